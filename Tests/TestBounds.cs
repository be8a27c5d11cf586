using NUnit.Framework;

// No test may hold the run: one that runs past 7 minutes fails (NUnit runs it on a thread of its own and stops waiting
// for it) and the run goes on with the next test. dotnet test's --blame-hang-timeout (10 minutes, in test.sh) stays
// as the last resort: it ends the whole test host. The slowest tests take about a minute.
// NUnit marks [Timeout] obsolete on .NET because it can no longer abort the thread; stopping to wait is all we ask.
#pragma warning disable CS0618
[assembly: Timeout(7 * 60 * 1000)]
#pragma warning restore CS0618
