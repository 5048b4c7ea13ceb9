using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli.Verify;

/// <summary>The admin calls <c>verify</c> needs, each sent to the broker that owns the topic (or the first service URL).</summary>
public sealed class VerifyAdmin : IAsyncDisposable
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(15);
    private readonly PulsarishClient _client;
    private readonly string _firstUrl;
    private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.OrdinalIgnoreCase);

    public VerifyAdmin(PulsarishClient client, string serviceUrl)
    {
        _client = client;
        _firstUrl = serviceUrl.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0];
    }

    /// <summary>Address of the broker that owns <paramref name="topic"/> now.</summary>
    public async Task<string> OwnerAsync(string topic, CancellationToken ct)
    {
        using var timeout = Timeout(ct);
        return await _client.LookupAsync(topic, timeout.Token);
    }

    /// <summary>Whether the broker de-duplicates on <paramref name="topic"/>'s namespace (effective policy).</summary>
    public async Task<bool?> DeduplicationAsync(string topic, CancellationToken ct)
    {
        try
        {
            var reply = await Admin(_firstUrl).GetEffectivePoliciesAsync(new NamespaceRequest { Namespace = NamespaceOf(topic) },
                deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
            return reply.HasDeduplicationEnabled ? reply.DeduplicationEnabled : null;
        }
        catch (RpcException)
        {
            return null;
        }
    }

    /// <summary>Creates the namespace if missing and sets its de-duplication policy.</summary>
    public async Task EnsureNamespaceAsync(string ns, bool deduplication, CancellationToken ct)
    {
        var admin = Admin(_firstUrl);
        try
        {
            await admin.CreateNamespaceAsync(new NamespaceRequest { Namespace = ns }, deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
        }
        catch (RpcException e) when (e.Trailers.GetValue("reason") is "NotAllowed" || e.StatusCode == StatusCode.AlreadyExists)
        {
            // Exists already.
        }
        await admin.SetPoliciesAsync(new SetPoliciesRequest
        {
            Namespace = ns, Policies = new NamespacePolicies { DeduplicationEnabled = deduplication },
        }, deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
    }

    /// <summary>A durable subscription at the earliest message, so that retention keeps every message for the check.</summary>
    public async Task CreateSubscriptionAsync(string topic, string subscription, CancellationToken ct)
    {
        try
        {
            await Admin(await OwnerAsync(topic, ct)).CreateSubscriptionAsync(
                new SubscriptionRequest { Topic = topic, Subscription = subscription, Earliest = true },
                deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
        }
        catch (RpcException e) when (e.Trailers.GetValue("reason") is "NotAllowed")
        {
            // Exists already.
        }
    }

    public async Task DeleteSubscriptionAsync(string topic, string subscription, CancellationToken ct)
    {
        await Admin(await OwnerAsync(topic, ct)).DeleteSubscriptionAsync(
            new SubscriptionRequest { Topic = topic, Subscription = subscription },
            deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
    }

    /// <summary>The topic's last confirmed entry and current ledger (internal stats of its owner).</summary>
    public async Task<(MessageId LastConfirmed, long CurrentLedgerId)> InternalStatsAsync(string topic, CancellationToken ct)
    {
        var reply = await Admin(await OwnerAsync(topic, ct)).GetTopicInternalStatsAsync(new TopicRequest { Topic = topic },
            deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct);
        using var doc = JsonDocument.Parse(reply.Json);
        var root = doc.RootElement;
        MessageId.TryParse(root.GetProperty("lastConfirmedEntry").GetString(), out var last);
        return (last, root.GetProperty("currentLedgerId").GetInt64());
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels.Values) channel.Dispose();
        await Task.CompletedTask;
    }

    /// <summary><c>tenant/namespace</c> of a full or short topic name.</summary>
    public static string NamespaceOf(string topic)
    {
        string full = topic.Contains("://", StringComparison.Ordinal) ? topic : "persistent://public/default/" + topic;
        var parts = full[(full.IndexOf("://", StringComparison.Ordinal) + 3)..].Split('/');
        return parts.Length >= 3 ? $"{parts[0]}/{parts[1]}" : "public/default";
    }

    private static CancellationTokenSource Timeout(CancellationToken ct)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(CallTimeout);
        return cts;
    }

    private PulsarishAdmin.PulsarishAdminClient Admin(string address)
    {
        lock (_channels)
        {
            if (!_channels.TryGetValue(address, out var channel))
            {
                channel = GrpcChannel.ForAddress(address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address);
                _channels[address] = channel;
            }
            return new PulsarishAdmin.PulsarishAdminClient(channel);
        }
    }
}
