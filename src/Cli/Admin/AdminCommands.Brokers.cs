using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli;

/// <summary><c>pulsarish admin brokers …</c>.</summary>
public static partial class AdminCommands
{
    private static Command Brokers()
    {
        var group = new Command("brokers", "Brokers");
        group.Subcommands.Add(Leaf("list", "Live brokers and their load", [], async (c, p, ct) =>
        {
            string json = (await c.Admin().ListBrokersAsync(new AdminEmpty(), cancellationToken: ct)).Json;
            if (p.GetValue(Output) == "json") return PrintJson(json);
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            foreach (var broker in doc.RootElement.EnumerateArray())
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{broker.GetProperty("brokerId").GetString()}\t{broker.GetProperty("address").GetString()}\tbundles={broker.GetProperty("bundleCount").GetInt32()}\ttopics={broker.GetProperty("topicCount").GetInt32()}"));
            }
            return 0;
        }));
        return group;
    }
}
