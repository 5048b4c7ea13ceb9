using System.Reflection;
using Grpc.Core;
using Pulsarish.Client;

namespace Pulsarish.Client.Tests;

/// <summary>The SDK's wire assembly carries client stubs only: no gRPC server base class of any service (they are
/// generated in the broker's and the bookie's own assemblies, proto/ServerStubs.targets), and the SDK references no
/// server-side assembly.</summary>
public sealed class SdkSurfaceTests
{
    [Test]
    public void ProtocolAssemblyHasClientStubsAndNoServerBaseClasses()
    {
        var protocol = typeof(Pulsarish.Protocol.Broker.LookupRequest).Assembly;
        var types = protocol.GetTypes();

        var serverBases = types.Where(t => t.GetCustomAttribute<BindServiceMethodAttribute>() is not null
                                           || typeof(ServerServiceDefinition).IsAssignableFrom(t)
                                           || t.Name.EndsWith("Base", StringComparison.Ordinal) && t.IsAbstract && t.IsNested)
            .Select(t => t.FullName).ToList();
        Assert.That(serverBases, Is.Empty, "server base classes in the SDK's protocol assembly");

        var clients = types.Where(t => typeof(ClientBase).IsAssignableFrom(t)).Select(t => t.Name).ToList();
        Assert.That(clients, Is.SupersetOf(new[] { "PulsarishBrokerClient", "PulsarishAdminClient" }));
    }

    [Test]
    public void SdkReferencesOnlyTheProtocolAmongPulsarishAssemblies()
    {
        var sdk = typeof(PulsarishClient).Assembly;
        var pulsarish = sdk.GetReferencedAssemblies().Select(a => a.Name!)
            .Where(n => n.StartsWith("Pulsarish.", StringComparison.Ordinal)).ToList();
        Assert.That(pulsarish, Is.EquivalentTo(new[] { "Pulsarish.Protocol" }));
    }
}
