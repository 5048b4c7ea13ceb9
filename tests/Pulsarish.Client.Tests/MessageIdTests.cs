namespace Pulsarish.Client.Tests;

public sealed class MessageIdTests
{
    [Test]
    public void FormatsAndParsesRoundTrip()
    {
        var id = new MessageId(12, 345, 6, 7);
        Assert.That(id.ToString(), Is.EqualTo("12:345:6:7"));
        Assert.That(MessageId.Parse(id.ToString()), Is.EqualTo(id));
        Assert.That(MessageId.Parse("3:4"), Is.EqualTo(new MessageId(3, 4, -1, -1)));
        Assert.That(MessageId.Parse("earliest"), Is.EqualTo(MessageId.Earliest));
    }

    [TestCase("")]
    [TestCase("1")]
    [TestCase("a:b")]
    [TestCase("1:2:3:4:5")]
    public void RejectsMalformedText(string text)
    {
        Assert.That(MessageId.TryParse(text, out _), Is.False);
        Assert.Throws<FormatException>(() => MessageId.Parse(text));
    }

    [Test]
    public void OrdersByLedgerThenEntryThenBatchIndex()
    {
        var ids = new[]
        {
            new MessageId(2, 0), new MessageId(1, 5, 1), new MessageId(1, 5, 0), new MessageId(1, 4, 9),
            MessageId.Latest, MessageId.Earliest,
        };
        Array.Sort(ids);
        Assert.That(ids, Is.EqualTo(new[]
        {
            MessageId.Earliest, new MessageId(1, 4, 9), new MessageId(1, 5, 0), new MessageId(1, 5, 1),
            new MessageId(2, 0), MessageId.Latest,
        }));
        Assert.That(new MessageId(1, 5, 0) < new MessageId(1, 5, 1), Is.True);
    }

    [Test]
    public void WireFormKeepsEveryField()
    {
        var id = new MessageId(9, 8, 7, 6, 10);
        var back = MessageId.FromProto(id.ToProto());
        Assert.That(back, Is.EqualTo(id));
        Assert.That(back.BatchSize, Is.EqualTo(10));
    }
}
