using Grpc.Health.V1;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests;

/// <summary>The broker answers the standard gRPC health and reflection services that tools and orchestrators use.</summary>
[TestFixture]
public sealed class HealthTests
{
    [Test]
    public async Task BrokerHealthIsServingOnceReadyAndReflectionListsItsServices()
    {
        var cluster = await InProcessCluster.StartAsync();
        try
        {
            Assert.That(await GrpcProbe.HealthAsync(cluster.Address), Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
            Assert.That(await GrpcProbe.HealthAsync(cluster.Address, "pulsarish.broker.PulsarishBroker"),
                Is.EqualTo(HealthCheckResponse.Types.ServingStatus.Serving));
            var services = await GrpcProbe.ListServicesAsync(cluster.Address);
            Assert.That(services, Does.Contain("pulsarish.broker.PulsarishBroker"));
            Assert.That(services, Does.Contain("pulsarish.admin.PulsarishAdmin"));
            Assert.That(services, Does.Contain("grpc.health.v1.Health"));
        }
        finally
        {
            await cluster.DisposeAsync();
        }
        Assert.ThrowsAsync<Grpc.Core.RpcException>(() => GrpcProbe.HealthAsync(cluster.Address));
    }
}
