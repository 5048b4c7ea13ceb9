using System.Diagnostics;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Server;

/// <summary>
/// One Produce call (proto/broker.proto): <c>open</c> attaches an engine <see cref="Producer"/>, each <c>send</c>
/// becomes one <see cref="StoredBatch"/> published in arrival order, and receipts (or per-send errors) go back in
/// the same order — the engine completes publishes out of order at most across failures, so a single writer awaits
/// them one by one. At most <see cref="BrokerServerOptions.MaxQueuedResponsesPerStream"/> sends wait for their
/// receipt; beyond that the stream is not read (back-pressure).
/// </summary>
internal sealed class ProduceStream
{
    private readonly BrokerService _broker;
    private readonly BrokerServerOptions _options;
    private readonly BrokerMetrics _metrics;
    private readonly ILogger _logger;

    public ProduceStream(BrokerService broker, BrokerServerOptions options, BrokerMetrics metrics, ILogger logger)
    {
        _broker = broker;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    public async Task RunAsync(IAsyncStreamReader<ProduceRequest> requests, IServerStreamWriter<ProduceResponse> responses,
        CancellationToken ct)
    {
        if (!await requests.MoveNext(ct).ConfigureAwait(false))
        {
            return;
        }

        var first = requests.Current;
        if (first.RequestCase != ProduceRequest.RequestOneofCase.Open)
        {
            throw ErrorMapper.ToRpcException(ErrorReason.BadRequest, "the first message of a Produce stream must be 'open'");
        }

        Producer producer;
        try
        {
            var open = first.Open;
            if (!Enum.IsDefined(open.AccessMode))
            {
                throw new BadRequestException($"unknown producer access mode {(int)open.AccessMode}");
            }

            var topic = await _broker.GetOrLoadTopicAsync(open.Topic, createIfMissing: true, ct).ConfigureAwait(false);
            // WaitForExclusive waits here until the topic is free; the client leaving (ct) withdraws it.
            producer = await topic.AddProducerAsync(open.ProducerName, open.AccessMode, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var reason = ErrorMapper.Reason(e);
            await responses.WriteAsync(new ProduceResponse
            {
                Error = new SendError { SequenceId = -1, Reason = reason, Message = ErrorMapper.Message(e) },
            }).ConfigureAwait(false);
            throw ErrorMapper.ToRpcException(e);
        }

        _metrics.Producers.Inc();
        try
        {
            await responses.WriteAsync(new ProduceResponse
            {
                Opened = new ProducerOpened
                {
                    ProducerName = producer.Name,
                    LastSequenceId = producer.LastSequenceIdAtOpen,
                    MaxMessageSize = producer.Topic.Policies.MaxMessageSizeBytes,
                },
            }).ConfigureAwait(false);
            await PumpSendsAsync(producer, requests, responses, ct).ConfigureAwait(false);
        }
        finally
        {
            producer.Close();
            _metrics.Producers.Dec();
        }
    }

    private async Task PumpSendsAsync(Producer producer, IAsyncStreamReader<ProduceRequest> requests,
        IServerStreamWriter<ProduceResponse> responses, CancellationToken ct)
    {
        var inFlight = Channel.CreateBounded<InFlightSend>(new BoundedChannelOptions(_options.MaxQueuedResponsesPerStream)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        using var writerFailed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var reading = CancellationTokenSource.CreateLinkedTokenSource(writerFailed.Token, producer.Detached);
        var writer = Task.Run(() => WriteReceiptsAsync(inFlight.Reader, responses, writerFailed));
        bool detached = false;
        try
        {
            while (await requests.MoveNext(reading.Token).ConfigureAwait(false))
            {
                var request = requests.Current;
                var send = ToInFlight(producer, request);
                await inFlight.Writer.WriteAsync(send, reading.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (producer.Detached.IsCancellationRequested && !writerFailed.IsCancellationRequested)
        {
            // The topic was unloaded here: answer what was read, then end the call (below).
            detached = true;
        }
        finally
        {
            inFlight.Writer.TryComplete();
            await writer.ConfigureAwait(false);
        }

        if (detached && producer.IsFenced)
        {
            // In-band first, so the client fails its pending sends for good instead of reconnecting.
            const string fenced = "fenced by an ExclusiveWithFencing producer";
            await responses.WriteAsync(new ProduceResponse
            {
                Error = new SendError { SequenceId = -1, Reason = ErrorReason.ProducerFenced, Message = fenced },
            }).ConfigureAwait(false);
            throw ErrorMapper.ToRpcException(ErrorReason.ProducerFenced, $"producer {producer.Name} on {producer.Topic.Name.FullName} was {fenced}");
        }

        if (detached)
        {
            // Retriable: the client looks the topic up again and resends whatever was not receipted.
            throw ErrorMapper.ToRpcException(ErrorReason.ServiceNotReady, producer.WriteFailed
                ? $"a send to {producer.Topic.Name.FullName} failed to persist; reconnect and resend in order"
                : $"topic {producer.Topic.Name.FullName} was unloaded from this broker; look it up again");
        }
    }

    /// <summary>Starts the publish of one send (or records its immediate error), keeping arrival order.</summary>
    private InFlightSend ToInFlight(Producer producer, ProduceRequest request)
    {
        long started = Stopwatch.GetTimestamp();
        if (request.RequestCase != ProduceRequest.RequestOneofCase.Send)
        {
            return new InFlightSend(-1, 0, 0, started, Task.FromException<PublishResult>(
                new BadRequestException($"expected 'send' after 'open', got {request.RequestCase}")));
        }

        var send = request.Send;
        if (!Enum.IsDefined(send.Compression))
        {
            return new InFlightSend(send.SequenceId, 0, 0, started, Task.FromException<PublishResult>(
                new BadRequestException($"unknown compression {(int)send.Compression}")));
        }

        if (ChunkChecks.Validate(send) is { } badChunk)
        {
            return new InFlightSend(send.SequenceId, 0, 0, started, Task.FromException<PublishResult>(new BadRequestException(badChunk)));
        }

        var batch = new StoredBatch { SequenceId = send.SequenceId, Compression = send.Compression };
        batch.Messages.AddRange(send.Messages);
        long bytes = 0;
        foreach (var message in send.Messages)
        {
            bytes += message.Payload.Length;
        }

        return new InFlightSend(send.SequenceId, send.Messages.Count, bytes, started, producer.SendAsync(batch));
    }

    private async Task WriteReceiptsAsync(ChannelReader<InFlightSend> sends, IServerStreamWriter<ProduceResponse> responses,
        CancellationTokenSource failed)
    {
        try
        {
            await foreach (var send in sends.ReadAllAsync().ConfigureAwait(false))
            {
                ProduceResponse response;
                try
                {
                    var result = await send.Publish.ConfigureAwait(false);
                    var receipt = new SendReceipt { SequenceId = send.SequenceId, Duplicate = result.IsDuplicate };
                    if (!result.IsDuplicate)
                    {
                        receipt.MessageId = result.MessageId.ToProto();
                        _metrics.MessagesIn.Inc(send.Messages);
                        _metrics.BytesIn.Inc(send.Bytes);
                    }

                    // Once per message of the send: a batch of N messages waited that long N times over.
                    _metrics.PublishLatency.Observe(Stopwatch.GetElapsedTime(send.StartedTimestamp).TotalSeconds,
                        Math.Max(1, send.Messages));
                    response = new ProduceResponse { Receipt = receipt };
                }
                catch (Exception e)
                {
                    var reason = ErrorMapper.Reason(e);
                    _metrics.SendErrors.WithLabels(reason.ToString()).Inc();
                    if (ErrorMapper.IsServerSide(reason))
                    {
                        _logger.LogWarning(e, "Send {SequenceId} failed with {Reason}", send.SequenceId, reason);
                    }

                    response = new ProduceResponse
                    {
                        Error = new SendError { SequenceId = send.SequenceId, Reason = reason, Message = ErrorMapper.Message(e) },
                    };
                }

                await responses.WriteAsync(response).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException)
        {
            // The client went away: stop reading its stream too.
            failed.Cancel();
        }
    }

    private readonly record struct InFlightSend(long SequenceId, int Messages, long Bytes, long StartedTimestamp,
        Task<PublishResult> Publish);
}
