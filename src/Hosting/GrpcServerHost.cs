using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Grpc.AspNetCore.Server.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Grpc.Health.V1;
using Grpc.HealthCheck;

namespace Pulsarish.Hosting;

/// <summary>
/// The Kestrel set-up the bookie and the broker servers share (kept out of Common so the client SDK does not pull in
/// ASP.NET Core): an empty web application using the caller's logger factory, one HTTP/2 gRPC listener (port 0 picks
/// a free one) with large flow-control windows, an optional HTTP/1.1 listener for <c>/metrics</c>, and gRPC with the
/// caller's receive limit. The listeners' bound ports are known once the application has started.
/// </summary>
public sealed class GrpcServerHost
{
    private ListenOptions? _grpcListen;
    private ListenOptions? _metricsListen;

    private GrpcServerHost(WebApplicationBuilder builder) => Builder = builder;

    /// <summary>The builder: register services on it, then <c>Build()</c>.</summary>
    public WebApplicationBuilder Builder { get; }

    /// <summary>The gRPC endpoint (port resolved) once the application has started.</summary>
    public IPEndPoint GrpcEndPoint => _grpcListen?.IPEndPoint
        ?? throw new InvalidOperationException("the gRPC listener is bound when the application starts");

    /// <summary>The <c>/metrics</c> port once started, or null when there is no metrics listener.</summary>
    public int? MetricsPort => _metricsListen?.IPEndPoint?.Port;

    /// <summary>Creates the builder with the shared listener and gRPC settings.</summary>
    /// <param name="applicationName">Name of the application (Pulsarish.Bookie, Pulsarish.Broker).</param>
    /// <param name="loggerFactory">Logger factory the application's services use.</param>
    /// <param name="bindAddress">Address both listeners bind.</param>
    /// <param name="grpcPort">gRPC (HTTP/2) port, 0 for a free one.</param>
    /// <param name="metricsPort">HTTP/1.1 port of <c>/metrics</c>, or null for none.</param>
    /// <param name="maxStreamsPerConnection">Concurrent HTTP/2 streams per client connection.</param>
    /// <param name="maxReceiveMessageBytes">Largest gRPC message accepted.</param>
    /// <param name="configureKestrel">Server-specific limits on top of the shared ones.</param>
    public static GrpcServerHost Create(string applicationName, ILoggerFactory loggerFactory, IPAddress bindAddress,
        int grpcPort, int? metricsPort, int maxStreamsPerConnection, int maxReceiveMessageBytes,
        Action<KestrelServerOptions>? configureKestrel = null)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = applicationName,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        var host = new GrpcServerHost(builder);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.MaxStreamsPerConnection = maxStreamsPerConnection;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 4 * 1024 * 1024;
            kestrel.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            configureKestrel?.Invoke(kestrel);
            kestrel.Listen(bindAddress, grpcPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                host._grpcListen = listen;
            });
            if (metricsPort is int port)
            {
                kestrel.Listen(bindAddress, port, listen =>
                {
                    listen.Protocols = HttpProtocols.Http1;
                    host._metricsListen = listen;
                });
            }
        });
        builder.Services.AddRouting();
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = maxReceiveMessageBytes;
            grpc.MaxSendMessageSize = null;
            grpc.EnableDetailedErrors = false;
        });
        builder.Services.AddGrpcReflection();
        builder.Services.AddSingleton(host.Health);
        host.Health.SetStatus("", HealthCheckResponse.Types.ServingStatus.NotServing);
        ReplaceServiceMethodProvider(builder.Services);
        return host;
    }

    /// <summary>
    /// The standard <c>grpc.health.v1.Health</c> service of this server: NOT_SERVING until the server calls
    /// <see cref="SetServing"/> once it is ready, and again from <see cref="SetNotServing"/> when it stops.
    /// </summary>
    public HealthServiceImpl Health { get; } = new();

    /// <summary>Maps the health and server-reflection services (call once, with the server's own services).</summary>
    public static void MapStandardServices(WebApplication app)
    {
        app.MapGrpcService<HealthServiceImpl>();
        app.MapGrpcReflectionService();
    }

    /// <summary>Reports the whole server of <paramref name="app"/> and each named service as SERVING.</summary>
    public static void SetServing(WebApplication app, params string[] services) =>
        SetAll(app, HealthCheckResponse.Types.ServingStatus.Serving, services);

    /// <summary>Reports the whole server of <paramref name="app"/> and each named service as NOT_SERVING (stopping).</summary>
    public static void SetNotServing(WebApplication app, params string[] services) =>
        SetAll(app, HealthCheckResponse.Types.ServingStatus.NotServing, services);

    private static void SetAll(WebApplication app, HealthCheckResponse.Types.ServingStatus status, string[] services)
    {
        var health = app.Services.GetRequiredService<HealthServiceImpl>();
        health.SetStatus("", status);
        foreach (string service in services)
        {
            health.SetStatus(service, status);
        }
    }

    /// <summary>Binds services with <see cref="MalformedRequestMethodProvider{TService}"/> instead of Grpc.AspNetCore's binder.</summary>
    private static void ReplaceServiceMethodProvider(IServiceCollection services)
    {
        var defaults = services.Where(d => d.ServiceType == typeof(IServiceMethodProvider<>)
                                           && d.ImplementationType?.Name.StartsWith("BinderServiceMethodProvider", StringComparison.Ordinal) == true)
            .ToList();
        if (defaults.Count != 1)
        {
            throw new InvalidOperationException("Grpc.AspNetCore's BinderServiceMethodProvider is not registered once");
        }

        services.Remove(defaults[0]);
        services.TryAddEnumerable(ServiceDescriptor.Singleton(typeof(IServiceMethodProvider<>), typeof(MalformedRequestMethodProvider<>)));
    }
}
