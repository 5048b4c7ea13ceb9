using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>
/// A topic moving back and forth between brokers by orderly unloads (namespace unload, graceful shutdown): every
/// broker that loads it again — including one that served it before — reads the whole history in order.
/// </summary>
[TestFixture]
public sealed class HandoverTests : BrokerTestBase
{
    [Test]
    public async Task TopicUnloadedFromATakenOverByBAndBackOnAReadsEveryMessageInOrder()
    {
        var a = await StartBrokerAsync();
        await CreateNamespaceAsync(a);
        var b = await StartBrokerAsync();
        string name = TopicName("back-and-forth");

        var onA = await a.GetOrLoadTopicAsync(name);
        await PublishAsync(onA, onA.AddProducer("p"), 30, "first", firstSequenceId: 0);
        await a.UnloadTopicAsync(name);

        var onB = await b.GetOrLoadTopicAsync(name);
        await PublishAsync(onB, onB.AddProducer("p"), 20, "second", firstSequenceId: 30);
        await b.UnloadTopicAsync(name);

        var again = await a.GetOrLoadTopicAsync(name);
        await PublishAsync(again, again.AddProducer("p"), 10, "third", firstSequenceId: 50);
        var consumer = await TestConsumer.SubscribeAsync(again, "verify", SubscriptionType.Exclusive);
        var received = await consumer.ReceiveAsync(60);

        var expected = Enumerable.Range(0, 30).Select(i => $"first-{i}")
            .Concat(Enumerable.Range(0, 20).Select(i => $"second-{i}"))
            .Concat(Enumerable.Range(0, 10).Select(i => $"third-{i}"));
        Assert.That(received.Select(Text), Is.EqualTo(expected));
    }

    [Test]
    [Repeat(3)]
    public async Task NextOwnerOpeningWhileThePreviousOneIsStillClosingLosesNoAcknowledgedMessage()
    {
        var a = await StartBrokerAsync();
        await CreateNamespaceAsync(a);
        var b = await StartBrokerAsync();
        string name = TopicName("racing-close");

        var onA = await a.GetOrLoadTopicAsync(name);
        var producerA = onA.AddProducer("p");
        var acked = new System.Collections.Concurrent.ConcurrentDictionary<long, bool>();
        var sendsOnA = new List<Task>();
        for (long seq = 0; seq < 200; seq++)
        {
            long s = seq;
            sendsOnA.Add(onA.PublishAsync(producerA, Batch(s, $"m-{s}")).ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully && !t.Result.IsDuplicate) acked[s] = true;
            }, TaskScheduler.Default));
            if (seq == 150)
            {
                // The unload starts with sends in flight, and the next owner opens the topic at once.
                _ = a.UnloadTopicAsync(name);
            }
        }
        var onB = await b.GetOrLoadTopicAsync(name);
        await Task.WhenAll(sendsOnA);
        // The client resends what A did not receipt; B's de-duplication drops what A persisted.
        var producerB = onB.AddProducer("p");
        for (long seq = 0; seq < 200; seq++)
        {
            if (acked.ContainsKey(seq)) continue;
            try
            {
                var result = await onB.PublishAsync(producerB, Batch(seq, $"m-{seq}"));
                acked[seq] = true;
            }
            catch (Exception)
            {
                // Not acknowledged: not expected back.
            }
        }
        await b.UnloadTopicAsync(name);

        var again = await a.GetOrLoadTopicAsync(name);
        var consumer = await TestConsumer.SubscribeAsync(again, "verify", SubscriptionType.Exclusive);
        var seen = new HashSet<long>();
        while (true)
        {
            var batch = await consumer.ReceiveAsync(TimeSpan.FromSeconds(2));
            if (batch is null) break;
            seen.Add(long.Parse(Text(batch)[2..]));
        }
        var missing = acked.Keys.Where(k => !seen.Contains(k)).OrderBy(k => k).ToList();
        Assert.That(missing, Is.Empty, $"acknowledged but missing ({acked.Count} acknowledged, {seen.Count} read)");
    }

    [Test]
    public async Task SubscriptionMadeOnAnEmptyTopicGetsWhatANewOwnerWithLowerLedgerIdsPublishes()
    {
        // B claims its ledger-id range first, so A's ledgers get higher ids than B's next one.
        var b = await StartBrokerAsync();
        await CreateNamespaceAsync(b);
        var a = await StartBrokerAsync();
        string warmup = TopicName("claims-b-range");
        await b.GetOrLoadTopicAsync(warmup);
        await b.UnloadTopicAsync(warmup);
        string name = TopicName("empty-then-moved");

        var onA = await a.GetOrLoadTopicAsync(name);
        long ledgerOnA = onA.Ledger.CurrentLedgerId;
        var early = await TestConsumer.SubscribeAsync(onA, "sub", SubscriptionType.Exclusive);
        early.Consumer.Close();
        await a.UnloadTopicAsync(name);

        // A's only ledger is empty: B drops it and starts one of its own. B's id range is below A's, but the new
        // ledger's id must still be above every ledger the topic listed (ManagedLedgerInfo.ledger_id_floor): below
        // A's, the subscription's mark-delete position (at A's dropped ledger) would count every new entry as acked.
        var onB = await b.GetOrLoadTopicAsync(name);
        var published = await PublishAsync(onB, onB.AddProducer("p"), 10);
        Assert.That(published.Select(r => r.MessageId.LedgerId), Is.All.GreaterThan(ledgerOnA),
            "the new owner's ledger is above the dropped one");
        var consumer = await TestConsumer.SubscribeAsync(onB, "sub", SubscriptionType.Exclusive);
        var received = await consumer.ReceiveAsync(10, TimeSpan.FromSeconds(10));
        Assert.That(received.Select(Text), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"m-{i}")));
    }
}
