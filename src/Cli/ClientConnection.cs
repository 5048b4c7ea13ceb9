using System.CommandLine;
using System.Net.Sockets;

namespace Pulsarish.Cli;

/// <summary>
/// The broker address of every client command (produce, consume, perf produce/consume, admin): <c>--service-url</c>
/// (host:port[,host:port…]), defaulting to <c>$PULSARISH_SERVICE_URL</c> when set, else 127.0.0.1:6650; the older
/// <c>--url</c> stays as a hidden alias. <see cref="EnsureReachableAsync"/> fails fast when nothing listens there,
/// instead of waiting out the client's operation timeout.
/// </summary>
public static class ClientConnection
{
    /// <summary>Environment variable that sets the default service URL.</summary>
    public const string ServiceUrlVariable = "PULSARISH_SERVICE_URL";

    /// <summary>Address used when neither the option nor the environment variable gives one.</summary>
    public const string DefaultServiceUrl = "127.0.0.1:6650";

    /// <summary>How long the reachability probe waits for a TCP connection to one address.</summary>
    public static readonly TimeSpan ConnectProbeTimeout = TimeSpan.FromSeconds(2);

    /// <summary>The default: <c>$PULSARISH_SERVICE_URL</c> when set, else <see cref="DefaultServiceUrl"/>.</summary>
    public static string DefaultUrl()
        => Environment.GetEnvironmentVariable(ServiceUrlVariable) is { Length: > 0 } url ? url : DefaultServiceUrl;

    /// <summary>A new <c>--service-url</c> option.</summary>
    public static Option<string> ServiceUrlOption(bool recursive = false) => new("--service-url")
    {
        Description = $"Broker address(es) host:port, comma-separated (default: ${ServiceUrlVariable} or {DefaultServiceUrl})",
        DefaultValueFactory = _ => DefaultUrl(),
        Recursive = recursive,
    };

    /// <summary>The hidden <c>--url</c> alias of <c>--service-url</c>.</summary>
    public static Option<string?> LegacyUrlOption(bool recursive = false) => new("--url")
    {
        Description = "Same as --service-url", Hidden = true, Recursive = recursive,
    };

    /// <summary>The service URL given by <c>--service-url</c> or <c>--url</c> (the latter when only it is given).</summary>
    public static string Resolve(ParseResult parse, Option<string> serviceUrl, Option<string?> legacyUrl)
    {
        bool explicitServiceUrl = parse.GetResult(serviceUrl) is { Implicit: false };
        return !explicitServiceUrl && parse.GetValue(legacyUrl) is { Length: > 0 } legacy ? legacy : parse.GetValue(serviceUrl)!;
    }

    /// <summary>
    /// Succeeds when a TCP connection to at least one of the service URL's addresses opens within
    /// <see cref="ConnectProbeTimeout"/>; otherwise throws <see cref="CliException"/> (ConnectionRefused or
    /// Unreachable) naming the addresses tried.
    /// </summary>
    public static async Task EnsureReachableAsync(string serviceUrl, CancellationToken ct)
    {
        var addresses = serviceUrl.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (addresses.Length == 0)
        {
            throw new CliException("BadArguments", "empty --service-url");
        }

        string reason = "Unreachable";
        var failures = new List<string>(addresses.Length);
        foreach (string address in addresses)
        {
            var (host, port) = HostAndPort(address);
            using var client = new TcpClient();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(ConnectProbeTimeout);
            try
            {
                await client.ConnectAsync(host, port, timeout.Token);
                return;
            }
            catch (SocketException e)
            {
                if (e.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    reason = "ConnectionRefused";
                }

                failures.Add($"{address} ({e.SocketErrorCode})");
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                failures.Add($"{address} (no answer within {ConnectProbeTimeout.TotalSeconds:0} s)");
            }
        }

        throw new CliException(reason,
            $"cannot connect to {string.Join(", ", failures)}; is the broker running? (set --service-url or ${ServiceUrlVariable})");
    }

    private static (string Host, int Port) HostAndPort(string address)
    {
        string text = address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Port <= 0)
        {
            throw new CliException("BadArguments", $"'{address}' is not host:port");
        }

        return (uri.Host, uri.IsDefaultPort && !address.Contains("://", StringComparison.Ordinal) ? 6650 : uri.Port);
    }
}
