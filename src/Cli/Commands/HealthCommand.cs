using System.CommandLine;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish health --service-url HOST:PORT [--service NAME]</c>: asks a broker or bookie's standard
/// <c>grpc.health.v1.Health</c> service whether it serves (a server reports SERVING only once it is ready). Prints the
/// status; exit 0 when SERVING, 1 otherwise. Used by the compose health checks and by scripts waiting for a server.
/// </summary>
public static class HealthCommand
{
    public static Command Create()
    {
        var serviceUrl = new Option<string>("--service-url")
        {
            Description = "host:port of the broker or bookie (default: PULSARISH_SERVICE_URL or 127.0.0.1:6650)",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("PULSARISH_SERVICE_URL") is { Length: > 0 } url
                ? url.Split(',')[0] : "127.0.0.1:6650",
        };
        var service = new Option<string>("--service")
        {
            Description = "Service to ask about (e.g. pulsarish.broker.PulsarishBroker); empty for the whole server",
            DefaultValueFactory = _ => "",
        };
        var timeoutMs = new Option<int>("--timeout-ms") { Description = "Deadline of the check", DefaultValueFactory = _ => 3_000 };
        var command = new Command("health", "Check a broker's or bookie's gRPC health (exit 0 when SERVING)") { serviceUrl, service, timeoutMs };
        command.SetAction(async (parse, ct) =>
        {
            string address = parse.GetValue(serviceUrl)!;
            string target = address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address;
            try
            {
                using var channel = GrpcChannel.ForAddress(target);
                var client = new Health.HealthClient(channel);
                var response = await client.CheckAsync(new HealthCheckRequest { Service = parse.GetValue(service) ?? "" },
                    deadline: DateTime.UtcNow.AddMilliseconds(parse.GetValue(timeoutMs)), cancellationToken: ct);
                if (response.Status == HealthCheckResponse.Types.ServingStatus.Serving)
                {
                    Console.Out.WriteLine("SERVING");
                    return 0;
                }
                await Console.Error.WriteLineAsync($"error: NotServing: {address} reports {response.Status}");
                return 1;
            }
            catch (RpcException e)
            {
                await Console.Error.WriteLineAsync($"error: {e.StatusCode}: {address}: {e.Status.Detail}");
                return 1;
            }
            catch (UriFormatException e)
            {
                await Console.Error.WriteLineAsync($"error: BadRequest: {address}: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
