using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace Pulsarish.Hosting;

/// <summary>
/// Binds a generated gRPC service's methods as Grpc.AspNetCore's own binder does, but with request marshallers that
/// turn a body that is not the method's protobuf message into <c>INVALID_ARGUMENT</c> with the reason trailer
/// <c>BadRequest</c>. Grpc.AspNetCore deserializes the request before any interceptor runs and answers a parse failure
/// <c>UNKNOWN</c> with an error-level stack trace per call; a malformed request is the client's mistake, not the
/// server's. <see cref="GrpcServerHost"/> registers it in place of the default provider.
/// </summary>
/// <typeparam name="TService">The service implementation (derives from a generated <c>…Base</c> class).</typeparam>
public sealed class MalformedRequestMethodProvider<TService> : IServiceMethodProvider<TService>
    where TService : class
{
    /// <summary>Name of the trailer that carries the failure reason (as the broker's and bookie's error mappers use).</summary>
    public const string ReasonTrailer = "reason";

    /// <inheritdoc />
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        var bind = typeof(TService).GetCustomAttribute<BindServiceMethodAttribute>(inherit: true);
        if (bind is null)
        {
            return;
        }

        var bindMethod = bind.BindType.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
            .Single(m => m.Name == bind.BindMethodName && m.GetParameters() is { Length: 2 } p
                         && p[0].ParameterType == typeof(ServiceBinderBase) && p[1].ParameterType.IsAssignableFrom(typeof(TService)));
        bindMethod.Invoke(null, [new Binder(context), null]);
    }

    private static Method<TRequest, TResponse> Wrap<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class where TResponse : class
    {
        var inner = method.RequestMarshaller;
        var marshaller = Marshallers.Create<TRequest>(inner.ContextualSerializer, context =>
        {
            try
            {
                return inner.ContextualDeserializer(context);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"malformed {typeof(TRequest).Name}: {e.Message}"),
                    new Grpc.Core.Metadata { { ReasonTrailer, "BadRequest" } });
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
    }

    /// <summary>The open-instance delegate of TService's method <paramref name="name"/> and the endpoint metadata
    /// Grpc.AspNetCore's binder gives it (the service type's and the method's attributes).</summary>
    private static (TDelegate Invoker, List<object> Metadata) Handler<TDelegate>(string name, params Type[] parameters)
        where TDelegate : Delegate
    {
        var handler = typeof(TService).GetMethod(name, BindingFlags.Public | BindingFlags.Instance, parameters)
            ?? throw new InvalidOperationException($"{typeof(TService).Name} has no method {name}");
        var metadata = new List<object>(typeof(TService).GetCustomAttributes(inherit: true));
        metadata.AddRange(handler.GetCustomAttributes(inherit: true));
        return (handler.CreateDelegate<TDelegate>(), metadata);
    }

    /// <summary>Receives the generated <c>BindService</c> calls (the handlers are null: calls activate a TService each).</summary>
    private sealed class Binder(ServiceMethodProviderContext<TService> context) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Handler<UnaryServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(TRequest),
                typeof(ServerCallContext));
            context.AddUnaryMethod(Wrap(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Handler<ClientStreamingServerMethod<TService, TRequest, TResponse>>(method.Name,
                typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext));
            context.AddClientStreamingMethod(Wrap(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Handler<ServerStreamingServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(TRequest),
                typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddServerStreamingMethod(Wrap(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Handler<DuplexStreamingServerMethod<TService, TRequest, TResponse>>(method.Name,
                typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddDuplexStreamingMethod(Wrap(method), metadata, invoker);
        }
    }
}
