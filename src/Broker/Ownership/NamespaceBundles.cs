using System.Diagnostics;
using System.Text;
using Pulsarish.Protocol.Checksums;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// Splits every namespace into a fixed number of equal hash ranges (Pulsar's NamespaceBundles with
/// <c>defaultNumberOfNamespaceBundles</c>) and maps a topic to its bundle by the CRC32C of its full name,
/// a hash that is stable across processes and versions. Thread-safe (immutable).
/// </summary>
public sealed class NamespaceBundles
{
    public NamespaceBundles(int bundlesPerNamespace = OwnershipOptions.DefaultBundlesPerNamespace)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bundlesPerNamespace, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bundlesPerNamespace, 1024);
        BundlesPerNamespace = bundlesPerNamespace;
    }

    public int BundlesPerNamespace { get; }

    /// <summary>The stable 32-bit hash of a full topic name.</summary>
    public static uint Hash(string fullTopicName)
    {
        int max = Encoding.UTF8.GetMaxByteCount(fullTopicName.Length);
        Span<byte> buffer = max <= 512 ? stackalloc byte[max] : new byte[max];
        int length = Encoding.UTF8.GetBytes(fullTopicName, buffer);
        return Crc32C.Compute(buffer[..length]);
    }

    /// <summary>Every bundle of <paramref name="namespaceName"/>, in hash order; together they cover the hash space.</summary>
    public IReadOnlyList<NamespaceBundle> All(string namespaceName)
    {
        var bundles = new NamespaceBundle[BundlesPerNamespace];
        for (int i = 0; i < bundles.Length; i++) bundles[i] = At(namespaceName, i);
        return bundles;
    }

    /// <summary>The bundle of <paramref name="topic"/> (any accepted form, see <see cref="TopicNamespace"/>).</summary>
    public NamespaceBundle Find(string topic)
    {
        var (fullName, ns) = TopicNamespace.Parse(topic);
        uint hash = Hash(fullName);
        int index = (int)((long)hash * BundlesPerNamespace / NamespaceBundle.HashSpace);
        var bundle = At(ns, index);
        Debug.Assert(bundle.Contains(hash), "a topic's hash lies in its bundle");
        return bundle;
    }

    /// <summary>The bundle named <paramref name="bundleName"/> (e.g. <c>0x40000000_0x80000000</c>), or null when no bundle has that name.</summary>
    public NamespaceBundle? ByName(string namespaceName, string bundleName)
    {
        foreach (var bundle in All(namespaceName))
            if (bundle.Name == bundleName) return bundle;
        return null;
    }

    private NamespaceBundle At(string ns, int index) =>
        new(ns, index * NamespaceBundle.HashSpace / BundlesPerNamespace, (index + 1) * NamespaceBundle.HashSpace / BundlesPerNamespace);
}
