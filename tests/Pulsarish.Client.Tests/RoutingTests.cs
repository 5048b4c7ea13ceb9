using System.Text;

namespace Pulsarish.Client.Tests;

public sealed class RoutingTests
{
    [TestCase("", 0u)]
    [TestCase("hello", 0x248bfa47u)]
    [TestCase("The quick brown fox jumps over the lazy dog", 0x2e4ff723u)]
    public void Murmur3MatchesReferenceVectors(string text, uint expected)
    {
        Assert.That(Murmur3.Hash32(Encoding.UTF8.GetBytes(text)), Is.EqualTo(expected));
        Assert.That(Murmur3.HashUtf8(text), Is.EqualTo(expected));
    }

    [Test]
    public void LongKeysHashLikeTheirBytes()
    {
        string key = new string('k', 1000) + "é";
        Assert.That(Murmur3.HashUtf8(key), Is.EqualTo(Murmur3.Hash32(Encoding.UTF8.GetBytes(key))));
    }

    [TestCase("t", "persistent://public/default/t")]
    [TestCase("a/b/t", "persistent://a/b/t")]
    [TestCase("persistent://a/b/t", "persistent://a/b/t")]
    [TestCase("a/t", "a/t")]
    public void ShortTopicNamesAreCompleted(string given, string expected)
        => Assert.That(TopicNames.Complete(given), Is.EqualTo(expected));
}
