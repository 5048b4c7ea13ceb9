using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Server;

/// <summary>
/// The client gRPC service (proto/broker.proto): translates wire requests into engine calls and engine results and
/// errors into wire responses (errors through <see cref="ErrorMapper"/> only). Holds no protocol logic of its own:
/// each Produce/Consume call is a <see cref="ProduceStream"/>/<see cref="ConsumeStream"/>. A bad request fails that
/// request or call with a reason, never the server.
/// </summary>
public sealed class BrokerGrpcService : Stubs.PulsarishBroker.PulsarishBrokerBase
{
    private readonly BrokerServiceAccessor _accessor;
    private readonly BrokerServerOptions _options;
    private readonly BrokerMetrics _metrics;
    private readonly ILogger<BrokerGrpcService> _logger;

    public BrokerGrpcService(BrokerServiceAccessor accessor, BrokerServerOptions options, BrokerMetrics metrics,
        ILogger<BrokerGrpcService> logger)
    {
        _accessor = accessor;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>
    /// The owner's address. Ownership is the engine's <see cref="Ownership.IOwnershipService"/>: with one broker it is
    /// this broker; with several, a redirect to the owner (DESIGN §7).
    /// </summary>
    public override Task<LookupResponse> Lookup(LookupRequest request, ServerCallContext context)
        => UnaryAsync(async ct =>
        {
            var broker = _accessor.Service;
            var name = TopicName.Parse(request.Topic);
            var (address, isLocal) = await broker.Ownership.LookupAsync(name, request.Authoritative, ct).ConfigureAwait(false);
            return new LookupResponse { BrokerAddress = address, Redirect = !isLocal };
        }, context);

    public override Task<PartitionedMetadataResponse> GetPartitionedMetadata(PartitionedMetadataRequest request,
        ServerCallContext context)
        => UnaryAsync(async ct =>
        {
            int partitions = await _accessor.Service.GetPartitionCountAsync(request.Topic, ct).ConfigureAwait(false);
            return new PartitionedMetadataResponse { Partitions = partitions };
        }, context);

    public override Task<GetTopicsOfNamespaceResponse> GetTopicsOfNamespace(GetTopicsOfNamespaceRequest request,
        ServerCallContext context)
        => UnaryAsync(async ct =>
        {
            var topics = await Admin.TopicsOfNamespace.ListAsync(_accessor.Service.Namespaces, request.Namespace,
                request.TopicsPattern, ct).ConfigureAwait(false);
            var response = new GetTopicsOfNamespaceResponse();
            response.Topics.AddRange(topics);
            return response;
        }, context);

    public override Task Produce(IAsyncStreamReader<ProduceRequest> requestStream,
        IServerStreamWriter<ProduceResponse> responseStream, ServerCallContext context)
        => StreamAsync(ct => new ProduceStream(_accessor.Service, _options, _metrics, _logger)
            .RunAsync(requestStream, responseStream, ct), context);

    public override Task Consume(IAsyncStreamReader<ConsumeRequest> requestStream,
        IServerStreamWriter<ConsumeResponse> responseStream, ServerCallContext context)
        => StreamAsync(ct => new ConsumeStream(_accessor.Service, _options, _metrics, _logger)
            .RunAsync(requestStream, responseStream, ct), context);

    private async Task<T> UnaryAsync<T>(Func<CancellationToken, Task<T>> call, ServerCallContext context)
    {
        using var ct = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _accessor.Stopping);
        try
        {
            return await call(ct.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw Fail(e, context);
        }
    }

    private async Task StreamAsync(Func<CancellationToken, Task> run, ServerCallContext context)
    {
        using var ct = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, _accessor.Stopping);
        try
        {
            await run(ct.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw Fail(e, context);
        }
    }

    private RpcException Fail(Exception e, ServerCallContext context)
    {
        if (e is OperationCanceledException && _accessor.Stopping.IsCancellationRequested)
        {
            return ErrorMapper.ToRpcException(ErrorReason.ServiceNotReady, "broker is shutting down");
        }

        if ((e is OperationCanceledException && context.CancellationToken.IsCancellationRequested)
            || e is IOException)
        {
            // The client went away (cancelled or reset its stream): nothing to report.
            return new RpcException(new Status(StatusCode.Cancelled, "call cancelled"));
        }

        var reason = ErrorMapper.Reason(e);
        if (ErrorMapper.IsServerSide(reason))
        {
            _logger.LogError(e, "{Method} failed", context.Method);
        }

        return ErrorMapper.ToRpcException(e);
    }
}
