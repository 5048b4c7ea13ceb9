using System.CommandLine;
using System.Text.Json;
using Grpc.Net.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish admin bookies list</c> without <c>--metadata-url</c>: the bookies registered in the metadata store of
/// the broker at <c>--service-url</c> (a running standalone's in-process bookies included), printed as the
/// metadata-store form prints them (id, address, rack, read-only).
/// </summary>
public static class BrokerBookiesCommand
{
    /// <summary>Lists the broker's bookies; exit code 0, or 1 with <c>error: Reason: detail</c>.</summary>
    public static async Task<int> ListAsync(ParseResult parse, CancellationToken ct)
    {
        // The admin group's recursive --service-url (or its hidden alias --url when only that is given).
        bool explicitServiceUrl = parse.Tokens.Any(t => t.Value == "--service-url");
        string serviceUrl = !explicitServiceUrl && parse.GetValue<string?>("--url") is { Length: > 0 } legacy
            ? legacy
            : parse.GetValue<string>("--service-url") ?? ClientConnection.DefaultUrl();
        string first = serviceUrl.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        try
        {
            await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
            using var channel = GrpcChannel.ForAddress(first.Contains("://", StringComparison.Ordinal) ? first : "http://" + first);
            var admin = new PulsarishAdmin.PulsarishAdminClient(channel);
            string json = (await admin.ListBookiesAsync(new AdminEmpty(), cancellationToken: ct)).Json;
            if (parse.GetValue<string>("--output") == "json")
            {
                Console.Out.WriteLine(json);
                return 0;
            }

            using var doc = JsonDocument.Parse(json);
            foreach (var bookie in doc.RootElement.EnumerateArray())
            {
                string rack = bookie.GetProperty("rack").GetString() ?? "";
                Console.Out.WriteLine($"{bookie.GetProperty("bookieId").GetString()}\t{bookie.GetProperty("address").GetString()}\t" +
                                      $"{(rack.Length == 0 ? "-" : rack)}\t{(bookie.GetProperty("readOnly").GetBoolean() ? "read-only" : "writable")}");
            }

            return 0;
        }
        catch (Exception e) when (CliErrors.TryPrint(e, out int exitCode))
        {
            return exitCode;
        }
    }
}
