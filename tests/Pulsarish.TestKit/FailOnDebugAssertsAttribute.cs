using System.Collections.Concurrent;
using System.Diagnostics;
using NUnit.Framework.Interfaces;

namespace Pulsarish.TestKit;

/// <summary>
/// Fails a test when a <see cref="Debug.Assert(bool)"/> (or Trace.Assert) fired while it ran, on any thread. The test
/// host turns a failed assert into an exception on the asserting thread; on a background loop (a dispatcher, a ledger
/// completion) that exception may be caught and logged, and the test would not notice. An assert that fires after its
/// test ended is reported by the next test. Apply once per test assembly: <c>[assembly: FailOnDebugAsserts]</c>.
/// Only a Debug build of the code under test asserts.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly)]
public sealed class FailOnDebugAssertsAttribute : Attribute, ITestAction
{
    public ActionTargets Targets => ActionTargets.Test;

    public void BeforeTest(ITest test) => Recorder.Install();

    public void AfterTest(ITest test)
    {
        var fired = Recorder.Drain();
        if (fired.Count > 0)
        {
            Assert.Fail($"{fired.Count} Debug.Assert(s) fired:\n{string.Join("\n\n", fired)}");
        }
    }

    /// <summary>First trace listener: records each failed assert, then the test host's listener throws as before.</summary>
    private sealed class Recorder : TraceListener
    {
        private const int MaxRecorded = 20;
        private static readonly ConcurrentQueue<string> s_fired = new();
        private static int s_installed;

        public override bool IsThreadSafe => true;

        public static void Install()
        {
            if (Interlocked.Exchange(ref s_installed, 1) == 0)
            {
                Trace.Listeners.Insert(0, new Recorder());
            }
        }

        public static List<string> Drain()
        {
            var fired = new List<string>();
            while (s_fired.TryDequeue(out string? one))
            {
                fired.Add(one);
            }
            return fired;
        }

        public override void Fail(string? message, string? detailMessage)
        {
            if (s_fired.Count < MaxRecorded)
            {
                s_fired.Enqueue($"{message} {detailMessage}\n{Environment.StackTrace}");
            }
        }

        public override void Write(string? message)
        {
        }

        public override void WriteLine(string? message)
        {
        }
    }
}
