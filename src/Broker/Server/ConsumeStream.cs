using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Dispatch;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;
using EngineMessageId = Pulsarish.Broker.Topics.MessageId;

namespace Pulsarish.Broker.Server;

/// <summary>
/// One Consume call (proto/broker.proto): <c>subscribe</c> attaches an engine <see cref="Consumer"/> whose
/// dispatcher pushes into a bounded <see cref="ChannelConsumerSink"/>; a pump moves those messages onto the response
/// stream through the stream's single <see cref="ResponseWriter{T}"/>, next to ack answers and errors. Flow, acks,
/// negative acks, seeks and redelivery requests are applied in arrival order; a bad request is answered with an
/// error and the stream goes on.
/// </summary>
internal sealed class ConsumeStream
{
    private readonly BrokerService _broker;
    private readonly BrokerServerOptions _options;
    private readonly BrokerMetrics _metrics;
    private readonly ILogger _logger;

    public ConsumeStream(BrokerService broker, BrokerServerOptions options, BrokerMetrics metrics, ILogger logger)
    {
        _broker = broker;
        _options = options;
        _metrics = metrics;
        _logger = logger;
    }

    public async Task RunAsync(IAsyncStreamReader<ConsumeRequest> requests, IServerStreamWriter<ConsumeResponse> responses,
        CancellationToken ct)
    {
        if (!await requests.MoveNext(ct).ConfigureAwait(false))
        {
            return;
        }

        var first = requests.Current;
        if (first.RequestCase != ConsumeRequest.RequestOneofCase.Subscribe)
        {
            throw ErrorMapper.ToRpcException(ErrorReason.BadRequest, "the first message of a Consume stream must be 'subscribe'");
        }

        var sink = new ChannelConsumerSink(_broker.Options.ConsumerSinkCapacity);
        Consumer consumer;
        Topics.Topic topic;
        try
        {
            var subscribe = first.Subscribe;
            if (!Enum.IsDefined(subscribe.Type))
            {
                throw new BadRequestException($"unknown subscription type {(int)subscribe.Type}");
            }

            if (!Enum.IsDefined(subscribe.InitialPosition))
            {
                throw new BadRequestException($"unknown initial position {(int)subscribe.InitialPosition}");
            }

            if (!subscribe.NonDurable && (subscribe.StartMessageId is not null || subscribe.StartMessageIdInclusive))
            {
                throw new BadRequestException("a start message id is for non-durable (reader) subscriptions only");
            }

            topic = await _broker.GetOrLoadTopicAsync(subscribe.Topic, createIfMissing: true, ct).ConfigureAwait(false);
            consumer = await topic.SubscribeAsync(new SubscribeOptions
            {
                Subscription = subscribe.Subscription,
                Type = subscribe.Type,
                InitialPosition = subscribe.InitialPosition,
                ConsumerName = subscribe.ConsumerName,
                PriorityLevel = subscribe.PriorityLevel,
                Durable = !subscribe.NonDurable,
                StartMessageId = subscribe.StartMessageId is { } start ? EngineMessageId.FromProto(start) : null,
                StartMessageIdInclusive = subscribe.StartMessageIdInclusive,
            }, sink, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            await responses.WriteAsync(new ConsumeResponse
            {
                Error = new ConsumerError { Reason = ErrorMapper.Reason(e), Message = ErrorMapper.Message(e) },
            }).ConfigureAwait(false);
            throw ErrorMapper.ToRpcException(e);
        }

        _metrics.Consumers.Inc();
        var writer = new ResponseWriter<ConsumeResponse>(responses, _options.MaxQueuedResponsesPerStream);
        using var end = CancellationTokenSource.CreateLinkedTokenSource(ct, writer.Failed);
        Exception? disconnect = null;
        try
        {
            var markDelete = consumer.Subscription.Cursor.MarkDeletePosition;
            await writer.WriteAsync(new ConsumeResponse
            {
                Subscribed = new Subscribed
                {
                    ConsumerName = consumer.Name,
                    MarkDeletePosition = new MessageIdData
                    {
                        LedgerId = markDelete.LedgerId, EntryId = markDelete.EntryId, BatchIndex = -1,
                        Partition = topic.Name.PartitionIndex,
                    },
                },
            }, end.Token).ConfigureAwait(false);
            var pump = Task.Run(async () =>
            {
                disconnect = await PumpAsync(sink, writer, end.Token).ConfigureAwait(false);
                if (disconnect is not null)
                {
                    // The engine closed this consumer (topic unloaded or fenced): end the call so the client reconnects.
                    end.Cancel();
                }
            });
            try
            {
                while (await requests.MoveNext(end.Token).ConfigureAwait(false))
                {
                    await HandleAsync(topic, consumer, requests.Current, writer, end.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (end.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                // Ended by a disconnect from the engine or a failed write.
            }
            finally
            {
                consumer.Close();
                end.Cancel();
                await pump.ConfigureAwait(false);
            }
        }
        finally
        {
            writer.Complete();
            await writer.Completion.ConfigureAwait(false);
            _metrics.Consumers.Dec();
        }

        if (disconnect is not null)
        {
            throw ErrorMapper.ToRpcException(disconnect);
        }
    }

    /// <summary>Moves sink events to the response stream; returns the engine's disconnect reason, if any.</summary>
    private async Task<Exception?> PumpAsync(ChannelConsumerSink sink, ResponseWriter<ConsumeResponse> writer,
        CancellationToken ct)
    {
        try
        {
            await foreach (var e in sink.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                if (e.Message is { } message)
                {
                    await writer.WriteAsync(new ConsumeResponse { Message = message.ToProto() }, ct).ConfigureAwait(false);
                    _metrics.MessagesOut.Inc();
                }
                else if (e.IsActive is bool active)
                {
                    await writer.WriteAsync(new ConsumeResponse { ActiveChange = new ActiveConsumerChange { IsActive = active } }, ct)
                        .ConfigureAwait(false);
                }
                else if (e.Disconnect is { } reason)
                {
                    writer.TryWrite(new ConsumeResponse
                    {
                        Error = new ConsumerError { Reason = ErrorMapper.Reason(reason), Message = ErrorMapper.Message(reason) },
                    });
                    return reason;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            // Stream over.
        }

        return null;
    }

    private async Task HandleAsync(Topics.Topic topic, Consumer consumer, ConsumeRequest request,
        ResponseWriter<ConsumeResponse> writer, CancellationToken ct)
    {
        ulong requestId = request.RequestCase switch
        {
            ConsumeRequest.RequestOneofCase.Ack => request.Ack.RequestId,
            ConsumeRequest.RequestOneofCase.Seek => request.Seek.RequestId,
            ConsumeRequest.RequestOneofCase.GetLastMessageId => request.GetLastMessageId.RequestId,
            _ => 0,
        };
        try
        {
            switch (request.RequestCase)
            {
                case ConsumeRequest.RequestOneofCase.Flow:
                    if (request.Flow.Permits <= 0)
                    {
                        throw new BadRequestException($"flow permits must be positive, got {request.Flow.Permits}");
                    }

                    consumer.Flow(request.Flow.Permits);
                    break;
                case ConsumeRequest.RequestOneofCase.Ack:
                    var ack = request.Ack;
                    if (!Enum.IsDefined(ack.Type))
                    {
                        throw new BadRequestException($"unknown ack type {(int)ack.Type}");
                    }

                    consumer.Acknowledge(ack.Type, ToEngineIds(ack.MessageIds));
                    if (requestId != 0)
                    {
                        await writer.WriteAsync(new ConsumeResponse { AckResponse = new AckResponse { RequestId = requestId } }, ct)
                            .ConfigureAwait(false);
                    }

                    break;
                case ConsumeRequest.RequestOneofCase.NegativeAck:
                    consumer.NegativeAcknowledge(ToEngineIds(request.NegativeAck.MessageIds));
                    break;
                case ConsumeRequest.RequestOneofCase.Seek:
                    var seek = request.Seek;
                    Topics.Position target;
                    if (seek.TargetCase == Seek.TargetOneofCase.MessageId)
                    {
                        target = await consumer.SeekAsync(EngineMessageId.FromProto(seek.MessageId), ct).ConfigureAwait(false);
                    }
                    else if (seek.TargetCase == Seek.TargetOneofCase.PublishTimeMillis)
                    {
                        target = await consumer.SeekAsync(seek.PublishTimeMillis, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        throw new BadRequestException("seek needs a message id or a publish time");
                    }

                    if (requestId != 0)
                    {
                        // Answered once the subscription was reset (the cursor holds the new position).
                        await writer.WriteAsync(new ConsumeResponse
                        {
                            SeekResponse = new SeekResponse
                            {
                                RequestId = requestId,
                                Position = new MessageIdData
                                {
                                    LedgerId = target.LedgerId, EntryId = target.EntryId, BatchIndex = -1,
                                    Partition = topic.Name.PartitionIndex,
                                },
                            },
                        }, ct).ConfigureAwait(false);
                    }

                    break;
                case ConsumeRequest.RequestOneofCase.GetLastMessageId:
                    var last = await topic.GetLastMessageIdAsync(ct).ConfigureAwait(false);
                    await writer.WriteAsync(new ConsumeResponse
                    {
                        LastMessageId = new LastMessageIdResponse
                        {
                            RequestId = requestId,
                            MessageId = last?.ToProto() ?? new MessageIdData
                            {
                                LedgerId = -1, EntryId = -1, BatchIndex = -1, Partition = topic.Name.PartitionIndex,
                            },
                        },
                    }, ct).ConfigureAwait(false);
                    break;
                case ConsumeRequest.RequestOneofCase.Redeliver:
                    consumer.RedeliverUnacknowledged();
                    break;
                default:
                    throw new BadRequestException($"unexpected request {request.RequestCase} after 'subscribe'");
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            var reason = ErrorMapper.Reason(e);
            if (ErrorMapper.IsServerSide(reason))
            {
                _logger.LogWarning(e, "Consumer {Consumer}: {Request} failed", consumer, request.RequestCase);
            }

            string message = ErrorMapper.Message(e);
            await writer.WriteAsync((requestId != 0 ? request.RequestCase : ConsumeRequest.RequestOneofCase.None) switch
            {
                ConsumeRequest.RequestOneofCase.Ack => new ConsumeResponse
                {
                    AckResponse = new AckResponse { RequestId = requestId, Reason = reason, Message = message },
                },
                ConsumeRequest.RequestOneofCase.Seek => new ConsumeResponse
                {
                    SeekResponse = new SeekResponse { RequestId = requestId, Reason = reason, Message = message },
                },
                ConsumeRequest.RequestOneofCase.GetLastMessageId => new ConsumeResponse
                {
                    LastMessageId = new LastMessageIdResponse { RequestId = requestId, Reason = reason, Message = message },
                },
                _ => new ConsumeResponse { Error = new ConsumerError { Reason = reason, Message = message } },
            }, ct).ConfigureAwait(false);
        }
    }

    private static EngineMessageId[] ToEngineIds(Google.Protobuf.Collections.RepeatedField<MessageIdData> ids)
    {
        if (ids.Count == 0)
        {
            throw new BadRequestException("no message ids given");
        }

        var result = new EngineMessageId[ids.Count];
        for (int i = 0; i < result.Length; i++)
        {
            result[i] = EngineMessageId.FromProto(ids[i]);
        }

        return result;
    }
}
