// A Debug.Assert fired on any thread (dispatch loop, ledger completion) fails the test that ran.
[assembly: Pulsarish.TestKit.FailOnDebugAsserts]
