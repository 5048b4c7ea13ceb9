namespace Pulsarish.TestKit;

/// <summary>
/// The one seed convention of randomized tests: the seed is <c>PULSARISH_TEST_SEED</c> when set, otherwise one picked
/// per test run. A test calls <see cref="Use"/> (which prints the seed to <see cref="TestContext.Out"/>, shown with a
/// failure) and derives every random choice from it; re-running with <c>PULSARISH_TEST_SEED=&lt;seed&gt;</c> replays
/// it. Tests that run several cases derive each case's seed from it (<c>Value + run</c>) and name the case's seed in
/// their failure messages.
/// </summary>
public static class TestSeed
{
    /// <summary>The environment variable that fixes the seed.</summary>
    public const string Variable = "PULSARISH_TEST_SEED";

    private static readonly Lazy<(int Seed, bool Fixed)> Chosen = new(() =>
        int.TryParse(Environment.GetEnvironmentVariable(Variable), out int seed)
            ? (seed, true)
            : (Random.Shared.Next(), false));

    /// <summary>This run's seed: <c>PULSARISH_TEST_SEED</c> when set, else one picked once per process.</summary>
    public static int Value => Chosen.Value.Seed;

    /// <summary>True when the seed came from <c>PULSARISH_TEST_SEED</c> (a replay).</summary>
    public static bool IsFixed => Chosen.Value.Fixed;

    /// <summary>Prints the seed for this test (with how to replay it) and returns it.</summary>
    public static int Use()
    {
        int seed = Value;
        TestContext.Out.WriteLine(Describe(seed));
        return seed;
    }

    /// <summary>A <see cref="Random"/> on the seed (plus <paramref name="offset"/> for a test's independent streams).</summary>
    public static Random NewRandom(int offset = 0) => new(unchecked(Value + offset));

    /// <summary>"seed N (re-run with PULSARISH_TEST_SEED=N)", for failure messages.</summary>
    public static string Describe(int seed) => $"seed {seed} (re-run with {Variable}={seed})";
}
