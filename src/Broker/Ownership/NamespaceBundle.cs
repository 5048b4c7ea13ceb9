using System.Globalization;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// A hash range [<see cref="LowerInclusive"/>, <see cref="UpperExclusive"/>) of topic-name hashes of one namespace:
/// the unit of ownership (Pulsar's NamespaceBundle). Named like Pulsar's bundles, <c>0x00000000_0x40000000</c>;
/// the last bundle of a namespace is named with upper bound <c>0xffffffff</c>.
/// </summary>
public readonly record struct NamespaceBundle(string Namespace, long LowerInclusive, long UpperExclusive)
{
    /// <summary>The size of the hash space (32-bit hashes).</summary>
    public const long HashSpace = 1L << 32;

    public string Name =>
        string.Create(CultureInfo.InvariantCulture,
            $"0x{LowerInclusive:x8}_0x{Math.Min(UpperExclusive, HashSpace - 1):x8}");

    /// <summary>/namespace/&lt;tenant&gt;/&lt;ns&gt;/&lt;bundle&gt;: the ephemeral ownership record.</summary>
    public string Path => OwnershipPaths.Namespace(Namespace) + "/" + Name;

    public bool Contains(uint hash) => hash >= LowerInclusive && hash < UpperExclusive;

    public override string ToString() => Namespace + "/" + Name;
}
