using System.Text;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// Key_Shared: a consistent-hash ring with <c>replicaPoints</c> points per consumer (Pulsar's
/// subscriptionKeySharedUseConsistentHashing). A key goes to the consumer owning the first point at or after the
/// key's hash, so the same key always reaches the same consumer while the membership is unchanged, and a join or
/// leave moves only the keys of the affected arcs. Messages without a key use the empty key.
/// </summary>
internal sealed class KeyHashConsumerSelector(int replicaPoints)
{
    private uint[] _points = Array.Empty<uint>();
    private Consumer[] _owners = Array.Empty<Consumer>();

    /// <summary>Rebuilds the ring for <paramref name="consumers"/> (under the subscription's lock).</summary>
    public void ConsumersChanged(IReadOnlyList<Consumer> consumers)
    {
        var ring = new List<(uint Hash, Consumer Owner)>(consumers.Count * replicaPoints);
        foreach (var c in consumers)
        {
            for (int i = 0; i < replicaPoints; i++)
            {
                ring.Add((Hash($"{c.Name}#{c.ConsumerId}-{i}"), c));
            }
        }
        ring.Sort(static (a, b) => a.Hash != b.Hash ? a.Hash.CompareTo(b.Hash) : a.Owner.ConsumerId.CompareTo(b.Owner.ConsumerId));
        _points = new uint[ring.Count];
        _owners = new Consumer[ring.Count];
        for (int i = 0; i < ring.Count; i++)
        {
            (_points[i], _owners[i]) = ring[i];
        }
    }

    /// <summary>The consumer owning <paramref name="key"/>, whatever its permits (null without consumers).</summary>
    public Consumer? Owner(string key)
    {
        if (_points.Length == 0)
        {
            return null;
        }
        int index = Array.BinarySearch(_points, Hash(key));
        if (index < 0)
        {
            index = ~index;
        }
        return _owners[index == _points.Length ? 0 : index];
    }

    /// <summary>32-bit FNV-1a over the UTF-8 bytes, finished with a murmur3 avalanche.</summary>
    internal static uint Hash(string key)
    {
        uint hash = 2166136261;
        Span<byte> buffer = key.Length <= 128 ? stackalloc byte[key.Length * 3] : new byte[Encoding.UTF8.GetMaxByteCount(key.Length)];
        int length = Encoding.UTF8.GetBytes(key, buffer);
        for (int i = 0; i < length; i++)
        {
            hash = (hash ^ buffer[i]) * 16777619;
        }
        hash ^= hash >> 16;
        hash *= 0x85ebca6b;
        hash ^= hash >> 13;
        hash *= 0xc2b2ae35;
        hash ^= hash >> 16;
        return hash;
    }
}
