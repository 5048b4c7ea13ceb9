using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>
/// Randomized: a sequence of puts, CAS, creates (sequential too) and deletes on the durable embedded store, compared
/// with a simple model after every step and after reopening (with frequent snapshots). The seed is printed;
/// set PULSARISH_TEST_SEED to replay one.
/// </summary>
[TestFixture]
public sealed class EmbeddedMetadataStoreModelTests
{
    private sealed record ModelNode(byte[] Value, long Version);

    [Test]
    public async Task RandomOperationsMatchAModelAcrossReopensAndSnapshots()
    {
        int seed = TestSeed.Use();
        var random = new Random(seed);
        string directory = Path.Combine(Path.GetTempPath(), "pulsarish-embedded-model-" + Guid.NewGuid().ToString("N"));
        var options = new EmbeddedMetadataStoreOptions { SnapshotCount = 7 };
        var model = new SortedDictionary<string, ModelNode>(StringComparer.Ordinal);
        string[] names = ["a", "b", "c"];
        var store = await EmbeddedMetadataStore.OpenAsync(directory, options);
        try
        {
            for (int step = 0; step < 300; step++)
            {
                string path = "/m/" + names[random.Next(names.Length)] + (random.Next(2) == 0 ? "" : "/" + names[random.Next(names.Length)]);
                byte[] value = new byte[random.Next(0, 40)];
                random.NextBytes(value);
                string context = $"seed {seed} step {step} path {path}";
                switch (random.Next(5))
                {
                    case 0:
                        await store.PutAsync(path, value, null);
                        Put(model, path, value);
                        break;
                    case 1:
                    {
                        long expected = model.TryGetValue(path, out var n) && random.Next(3) > 0 ? n.Version : random.Next(0, 3);
                        bool matches = model.TryGetValue(path, out var current) && current.Version == expected;
                        if (matches)
                        {
                            var stat = await store.PutAsync(path, value, expected);
                            Put(model, path, value);
                            Assert.That(stat.Version, Is.EqualTo(expected + 1), context);
                        }
                        else if (current is null)
                        {
                            Assert.ThrowsAsync<NoNodeException>(() => store.PutAsync(path, value, expected), context);
                        }
                        else
                        {
                            Assert.ThrowsAsync<BadVersionException>(() => store.PutAsync(path, value, expected), context);
                        }
                        break;
                    }
                    case 2:
                        if (model.ContainsKey(path))
                        {
                            Assert.ThrowsAsync<NodeExistsException>(() => store.CreateAsync(path, value, CreateOptions.None), context);
                        }
                        else
                        {
                            await store.CreateAsync(path, value, CreateOptions.None);
                            Put(model, path, value);
                        }
                        break;
                    case 3:
                    {
                        string created = await store.CreateAsync("/m/seq/n-", value, CreateOptions.Sequential);
                        Assert.That(model.Keys.Where(k => k.StartsWith("/m/seq/", StringComparison.Ordinal)),
                            Has.All.LessThan(created), context + ": sequential names only grow");
                        Put(model, created, value);
                        break;
                    }
                    default:
                        if (!model.ContainsKey(path))
                        {
                            Assert.ThrowsAsync<NoNodeException>(() => store.DeleteAsync(path, null), context);
                        }
                        else if (model.Keys.Any(k => k.StartsWith(path + "/", StringComparison.Ordinal)))
                        {
                            Assert.ThrowsAsync<NotEmptyException>(() => store.DeleteAsync(path, null), context);
                        }
                        else
                        {
                            await store.DeleteAsync(path, model[path].Version);
                            model.Remove(path);
                        }
                        break;
                }
                if (random.Next(25) == 0)
                {
                    await store.DisposeAsync();
                    store = await EmbeddedMetadataStore.OpenAsync(directory, options);
                    await AssertMatchesAsync(store, model, $"seed {seed} after reopen at step {step}");
                }
            }
            await store.DisposeAsync();
            store = await EmbeddedMetadataStore.OpenAsync(directory, options);
            await AssertMatchesAsync(store, model, $"seed {seed} at the end");
        }
        finally
        {
            await store.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Models implicit parents below /m: a put/create also makes missing ancestors (empty, version 0).</summary>
    private static void Put(SortedDictionary<string, ModelNode> model, string path, byte[] value)
    {
        for (string p = MetadataPath.Parent(path); p != "/m"; p = MetadataPath.Parent(p))
        {
            model.TryAdd(p, new ModelNode([], 0));
        }
        model[path] = model.TryGetValue(path, out var old) ? new ModelNode(value, old.Version + 1) : new ModelNode(value, 0);
    }

    private static async Task AssertMatchesAsync(IMetadataStore store, SortedDictionary<string, ModelNode> model, string context)
    {
        var actual = new SortedDictionary<string, ModelNode>(StringComparer.Ordinal);
        async Task WalkAsync(string path)
        {
            foreach (string child in await store.GetChildrenAsync(path))
            {
                string childPath = MetadataPath.Combine(path, child);
                var r = await store.GetAsync(childPath);
                actual[childPath] = new ModelNode(r!.Value, r.Stat.Version);
                await WalkAsync(childPath);
            }
        }
        await WalkAsync("/m");
        Assert.That(actual.Keys, Is.EqualTo(model.Keys), context);
        foreach (var (path, node) in model)
        {
            Assert.That(actual[path].Value, Is.EqualTo(node.Value), $"{context}: value of {path}");
            Assert.That(actual[path].Version, Is.EqualTo(node.Version), $"{context}: version of {path}");
        }
    }
}
