using System.Text;
using Pulsarish.Cli.Verify;
using Pulsarish.Client;

namespace Pulsarish.Cluster.Tests.Verify;

/// <summary>The checker of <c>pulsarish verify check</c>, in memory: every verdict it can reach.</summary>
[TestFixture]
public sealed class VerifyCheckerTests
{
    private static AckLog Log(bool? dedup, params (string Producer, long Seq, long Entry)[] acks)
    {
        var log = new AckLog { Topic = "t", Prefix = "p", Deduplication = dedup };
        foreach (var (producer, seq, entry) in acks) log.AddAck(producer, seq, new MessageId(7, entry));
        return log;
    }

    private static ObservedMessage Read(string producer, long seq, long entry) =>
        new(VerifyChecker.Payload(producer, seq), new MessageId(7, entry));

    [Test]
    public void PassesWhenEveryAcknowledgedMessageIsReadOnceInOrder()
    {
        var log = Log(true, ("p-0", 0, 0), ("p-1", 0, 1), ("p-0", 1, 2));
        log.Attempted["p-0"] = 2;
        log.Attempted["p-1"] = 1;
        var report = VerifyChecker.Check(log, [Read("p-0", 0, 0), Read("p-1", 0, 1), Read("p-0", 1, 2)]);
        Assert.That(report.Verdict, Is.EqualTo(CheckVerdict.Pass), report.ToText());
        Assert.That((report.Acked, report.Read, report.Lost, report.Reordered, report.Duplicates, report.Phantoms), Is.EqualTo((3L, 3L, 0L, 0L, 0L, 0L)));
    }

    [Test]
    public void AnAcknowledgedMessageMissingFromTheTopicIsLoss()
    {
        var log = Log(false, ("p-0", 0, 0), ("p-0", 1, 1), ("p-0", 2, 2));
        var report = VerifyChecker.Check(log, [Read("p-0", 0, 0), Read("p-0", 2, 2)]);
        Assert.That(report.Verdict, Is.EqualTo(CheckVerdict.Fail));
        Assert.That(report.Lost, Is.EqualTo(1));
        Assert.That(report.Examples, Has.Some.Contains("lost: p-0:1"));
        Assert.That(report.ExitCode, Is.EqualTo(1));
    }

    [Test]
    public void AMessageReadAfterAHigherSequenceOfItsProducerIsReordering()
    {
        var log = Log(false, ("p-0", 0, 0), ("p-0", 1, 2), ("p-0", 2, 1), ("p-1", 0, 3));
        var report = VerifyChecker.Check(log, [Read("p-0", 0, 0), Read("p-0", 2, 1), Read("p-0", 1, 2), Read("p-1", 0, 3)]);
        Assert.That(report.Verdict, Is.EqualTo(CheckVerdict.Fail));
        // Once in read order (1 after 2) and once in the acknowledged ids (seq 2 acknowledged below seq 1).
        Assert.That(report.Reordered, Is.EqualTo(2), report.ToText());
        Assert.That(report.Lost, Is.Zero);
    }

    [Test]
    public void InterleavedProducersAreNotReordering()
    {
        var log = Log(true, ("p-0", 0, 0), ("p-1", 0, 1), ("p-1", 1, 2), ("p-0", 1, 3));
        var report = VerifyChecker.Check(log, [Read("p-0", 0, 0), Read("p-1", 0, 1), Read("p-1", 1, 2), Read("p-0", 1, 3)]);
        Assert.That(report.Verdict, Is.EqualTo(CheckVerdict.Pass), report.ToText());
    }

    [TestCase(true, CheckVerdict.Fail)]
    [TestCase(false, CheckVerdict.Pass)]
    public void DuplicatesFailOnlyWhenDeduplicationIsOn(bool dedup, CheckVerdict expected)
    {
        var log = Log(dedup, ("p-0", 0, 0), ("p-0", 1, 1));
        // A resend after a reconnect: 0, 1 stored, then 1 again.
        var report = VerifyChecker.Check(log, [Read("p-0", 0, 0), Read("p-0", 1, 1), Read("p-0", 1, 2)]);
        Assert.That(report.Duplicates, Is.EqualTo(1));
        Assert.That(report.Reordered, Is.Zero, "a later copy is not a reordering");
        Assert.That(report.Verdict, Is.EqualTo(expected), report.ToText());
    }

    [Test]
    public void AFailedSendFoundOnTheTopicIsCountedButAllowed()
    {
        var log = Log(true, ("p-0", 0, 0), ("p-0", 2, 2));
        log.Attempted["p-0"] = 4; // 1 and 3 failed or timed out
        var report = VerifyChecker.Check(log, [Read("p-0", 0, 0), Read("p-0", 1, 1), Read("p-0", 2, 2)]);
        Assert.That(report.Verdict, Is.EqualTo(CheckVerdict.Pass), report.ToText());
        Assert.That(report.UnacknowledgedPresent, Is.EqualTo(1));
    }

    [Test]
    public void MessagesNeverSentArePhantomsAndOtherRunsMessagesAreForeign()
    {
        var log = Log(false, ("p-0", 0, 0));
        log.Attempted["p-0"] = 1;
        var report = VerifyChecker.Check(log,
        [
            Read("p-0", 0, 0),
            Read("p-0", 5, 1), // sequence never tried
            Read("p-9", 0, 2), // a producer of this run's prefix that never existed
            new ObservedMessage(Encoding.UTF8.GetBytes("garbage"), new MessageId(7, 3)),
            Read("other-0", 0, 4), // another run's producer on the same topic
        ]);
        Assert.That(report.Phantoms, Is.EqualTo(3), report.ToText());
        Assert.That(report.Foreign, Is.EqualTo(1));
        Assert.That(report.Verdict, Is.EqualTo(CheckVerdict.Fail));
    }

    [Test]
    public void AnAcknowledgementAsDuplicateHasNoIdAndIsNotAnOrderViolation()
    {
        var log = new AckLog { Prefix = "p", Deduplication = true };
        log.AddAck("p-0", 0, new MessageId(7, 0));
        log.AddAck("p-0", 1, new MessageId(-1, -1));
        log.AddAck("p-0", 2, new MessageId(7, 2));
        var report = VerifyChecker.Check(log, [Read("p-0", 0, 0), Read("p-0", 1, 1), Read("p-0", 2, 2)]);
        Assert.That(report.Verdict, Is.EqualTo(CheckVerdict.Pass), report.ToText());
    }

    [Test]
    public void PaddedPayloadsParseAndTheLogRoundTrips()
    {
        var payload = VerifyChecker.Payload("verify-r1-0", 42, 1000);
        Assert.That(payload, Has.Length.EqualTo(1000));
        Assert.That(VerifyChecker.TryParsePayload(payload, out string producer, out long seq), Is.True);
        Assert.That((producer, seq), Is.EqualTo(("verify-r1-0", 42L)));
        Assert.That(VerifyChecker.TryParsePayload("no-sequence"u8, out _, out _), Is.False);

        string path = Path.Combine(Path.GetTempPath(), "ack-log-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var writer = new AckLog.Writer(path, "persistent://public/default/t", "verify-r1", deduplication: false))
            {
                writer.Ack("verify-r1-0", 0, new MessageId(3, 4, 0), 12);
                writer.Ack("verify-r1-0", 1, new MessageId(3, 4, 1), 13);
                writer.Sent("verify-r1-0", 5);
            }
            var log = AckLog.Read(path);
            Assert.That((log.Topic, log.Prefix, log.Deduplication), Is.EqualTo(("persistent://public/default/t", "verify-r1", (bool?)false)));
            Assert.That(log.Acked["verify-r1-0"][1], Is.EqualTo(new MessageId(3, 4, 1)));
            Assert.That(log.AttemptedBy("verify-r1-0"), Is.EqualTo(5));
            File.AppendAllText(path, "junk line\n");
            Assert.Throws<FormatException>(() => AckLog.Read(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
