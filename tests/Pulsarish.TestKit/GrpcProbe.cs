using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Reflection.V1Alpha;

namespace Pulsarish.TestKit;

/// <summary>What an operator's tools see of a server: the standard gRPC health and reflection services.</summary>
public static class GrpcProbe
{
    /// <summary>The health status of <paramref name="service"/> ("" = the whole server).</summary>
    public static async Task<HealthCheckResponse.Types.ServingStatus> HealthAsync(string address, string service = "")
    {
        using var channel = GrpcChannel.ForAddress("http://" + address);
        var client = new Health.HealthClient(channel);
        var response = await client.CheckAsync(new HealthCheckRequest { Service = service },
            deadline: DateTime.UtcNow.AddSeconds(10));
        return response.Status;
    }

    /// <summary>The full names of the services the server lists through reflection.</summary>
    public static async Task<IReadOnlyList<string>> ListServicesAsync(string address)
    {
        using var channel = GrpcChannel.ForAddress("http://" + address);
        var client = new ServerReflection.ServerReflectionClient(channel);
        using var call = client.ServerReflectionInfo(deadline: DateTime.UtcNow.AddSeconds(10));
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        var names = new List<string>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            foreach (var service in response.ListServicesResponse.Service)
            {
                names.Add(service.Name);
            }
        }
        return names;
    }
}
