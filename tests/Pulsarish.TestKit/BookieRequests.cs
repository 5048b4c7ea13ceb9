using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Bookie;

namespace Pulsarish.TestKit;

/// <summary>Builds well-formed (or deliberately malformed) bookie wire requests for tests.</summary>
public static class BookieRequests
{
    /// <summary>An add with a correct digest over (ledgerId, entryId, lac, payload).</summary>
    public static AddRequest Add(ulong requestId, long ledgerId, long entryId, byte[] payload, byte[] masterKey,
        long lac = -1, bool recovery = false) => new()
    {
        RequestId = requestId,
        LedgerId = ledgerId,
        EntryId = entryId,
        Lac = lac,
        MasterKey = ByteString.CopyFrom(masterKey),
        Payload = ByteString.CopyFrom(payload),
        Digest = EntryDigest.Compute(ledgerId, entryId, lac, payload),
        Recovery = recovery,
    };

    /// <summary>A gRPC channel to a bookie at "host:port" over HTTP/2 cleartext.</summary>
    public static GrpcChannel Channel(string address) => GrpcChannel.ForAddress($"http://{address}",
        new GrpcChannelOptions { MaxReceiveMessageSize = null, MaxSendMessageSize = null });

    /// <summary>
    /// Sends <paramref name="garbage"/> as the request message of <paramref name="methodName"/> (raw bytes, no
    /// protobuf encoding) and returns the gRPC status the server answers with.
    /// </summary>
    public static async Task<Status> SendRawAsync(GrpcChannel channel, string methodName, byte[] garbage)
    {
        var raw = Marshallers.Create<byte[]>(b => b, b => b);
        var method = new Method<byte[], byte[]>(MethodType.Unary, "pulsarish.bookie.Bookie", methodName, raw, raw);
        try
        {
            await channel.CreateCallInvoker().AsyncUnaryCall(method, null,
                new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)), garbage);
            return Status.DefaultSuccess;
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
    }

    /// <summary>Sends raw bytes as one message on an Add stream and returns the status that ends the call.</summary>
    public static async Task<Status> SendRawAddAsync(GrpcChannel channel, byte[] garbage)
    {
        var raw = Marshallers.Create<byte[]>(b => b, b => b);
        var method = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "pulsarish.bookie.Bookie", "Add", raw, raw);
        using var call = channel.CreateCallInvoker().AsyncDuplexStreamingCall(method, null,
            new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10)));
        try
        {
            await call.RequestStream.WriteAsync(garbage);
            await call.RequestStream.CompleteAsync();
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
            }

            return call.GetStatus();
        }
        catch (RpcException ex)
        {
            return ex.Status;
        }
    }
}
