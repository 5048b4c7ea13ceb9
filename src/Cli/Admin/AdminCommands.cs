using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish admin [--service-url host:port[,…]] [--output text|json] tenants|namespaces|topics|subscriptions|brokers …</c>:
/// the broker admin commands (proto/admin.proto). Topic-level commands look the topic's owner up first and talk to it.
/// Exit code 0 on success; on error a one-line message (<c>error: Reason: detail</c>) on stderr and exit code 1
/// (2 for bad arguments).
/// </summary>
public static partial class AdminCommands
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private static readonly Option<string> ServiceUrl = ClientConnection.ServiceUrlOption(recursive: true);

    private static readonly Option<string?> LegacyUrl = ClientConnection.LegacyUrlOption(recursive: true);

    private static readonly Option<string> Output = new("--output")
    {
        Description = "text or json", DefaultValueFactory = _ => "text", Recursive = true,
    };

    /// <summary>Adds the broker admin groups to the root's <c>admin</c> command.</summary>
    public static void AddTo(RootCommand root)
    {
        var admin = BookieShellCommands.GetOrCreateAdmin(root);
        admin.Options.Add(ServiceUrl);
        admin.Options.Add(LegacyUrl);
        admin.Options.Add(Output);
        admin.Subcommands.Add(Tenants());
        admin.Subcommands.Add(Namespaces());
        admin.Subcommands.Add(Topics());
        admin.Subcommands.Add(Subscriptions());
        admin.Subcommands.Add(Brokers());
    }

    // ---- plumbing ----

    private static Command Leaf(string name, string description, Symbol[] symbols, Func<AdminConnection, ParseResult, CancellationToken, Task<int>> run)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            if (symbol is Argument argument) command.Arguments.Add(argument);
            else command.Options.Add((Option)symbol);
        }
        command.SetAction(async (parse, ct) =>
        {
            string serviceUrl = ClientConnection.Resolve(parse, ServiceUrl, LegacyUrl);
            await using var connection = new AdminConnection(serviceUrl);
            try
            {
                await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
                return await run(connection, parse, ct);
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                return CliErrors.BadArguments(e.Message);
            }
            catch (Exception e) when (CliErrors.TryPrint(e, out int exitCode))
            {
                return exitCode;
            }
        });
        return command;
    }

    private static async Task<int> Created(ParseResult p, Option<bool> ifNotExists, Func<Task<AdminEmpty>> create)
    {
        try
        {
            await create();
        }
        catch (RpcException e) when (p.GetValue(ifNotExists) && e.StatusCode == StatusCode.AlreadyExists
                                     || p.GetValue(ifNotExists) && e.Status.Detail.Contains("already exists", StringComparison.Ordinal))
        {
            // Idempotent create (init containers, scripts).
        }
        return Ok(p);
    }

    private static int Ok(ParseResult p)
    {
        if (p.GetValue(Output) == "json") Console.Out.WriteLine("{\"ok\":true}");
        return 0;
    }

    private static int Names(ParseResult p, IEnumerable<string> names)
    {
        if (p.GetValue(Output) == "json") Console.Out.WriteLine(JsonSerializer.Serialize(names, Json));
        else foreach (var n in names) Console.Out.WriteLine(n);
        return 0;
    }

    private static int Print(ParseResult p, object value)
    {
        string json = value is NamespacePolicies policies
            ? Google.Protobuf.JsonFormatter.Default.Format(policies)
            : JsonSerializer.Serialize(value, Json);
        if (p.GetValue(Output) == "json")
        {
            Console.Out.WriteLine(json);
            return 0;
        }
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var property in doc.RootElement.EnumerateObject()) Console.Out.WriteLine($"{property.Name}: {property.Value}");
        return 0;
    }

    private static int PrintJson(string json)
    {
        Console.Out.WriteLine(json);
        return 0;
    }

    private static long ParseTime(string text)
    {
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long millis)) return millis;
        return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUnixTimeMilliseconds();
    }

    private static Option<bool> IfNotExists() => new("--if-not-exists") { Description = "Succeed when it already exists" };

    private static Argument<string> NamespaceArgument() => new("namespace") { Description = "tenant/namespace" };

    private static Argument<string> TopicArgument() => new("topic") { Description = "persistent://tenant/namespace/name or a short name" };

    private static Option<string> SubscriptionOption() => new("--subscription", "-s") { Required = true };

    private static NamespaceRequest Ns(ParseResult p, Argument<string> ns) => new() { Namespace = p.GetValue(ns) };

    /// <summary>Channels to the service URL's first broker and to topic owners; disposed with the command.</summary>
    private sealed class AdminConnection(string serviceUrl) : IAsyncDisposable
    {
        private readonly string[] _urls = serviceUrl.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.OrdinalIgnoreCase);
        private PulsarishClient? _client;

        public PulsarishAdmin.PulsarishAdminClient Admin(string? address = null)
        {
            address ??= _urls.Length > 0 ? _urls[0] : throw new ArgumentException("empty --service-url");
            if (!_channels.TryGetValue(address, out var channel))
            {
                channel = GrpcChannel.ForAddress(address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address);
                _channels[address] = channel;
            }
            return new PulsarishAdmin.PulsarishAdminClient(channel);
        }

        /// <summary>The admin client of the broker that owns <paramref name="topic"/> (lookup with redirects).</summary>
        public async Task<PulsarishAdmin.PulsarishAdminClient> OwnerAsync(string topic, CancellationToken ct)
        {
            _client ??= new PulsarishClient(_urls);
            return Admin(await _client.LookupAsync(topic, ct));
        }

        /// <summary>Every live broker's address; the service URL's brokers when none is registered (standalone).</summary>
        public async Task<IReadOnlyList<string>> BrokerAddressesAsync(CancellationToken ct)
        {
            string json = (await Admin().ListBrokersAsync(new AdminEmpty(), cancellationToken: ct)).Json;
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            var addresses = doc.RootElement.EnumerateArray().Select(b => b.GetProperty("address").GetString()!).ToList();
            return addresses.Count > 0 ? addresses : _urls;
        }

        public async ValueTask DisposeAsync()
        {
            if (_client is not null) await _client.DisposeAsync();
            foreach (var channel in _channels.Values) channel.Dispose();
        }
    }
}
