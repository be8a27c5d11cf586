using MailServer.Tests.Support;
using NUnit.Framework;

// In the root namespace of the tests, so it runs once after every fixture of the assembly.
namespace MailServer.Tests;

/// <summary>Stops the run's content engines when every test has run.</summary>
[SetUpFixture]
public sealed class ContentEnginesTeardown
{
    /// <summary>Stops them.</summary>
    [OneTimeTearDown]
    public void StopEngines() => ContentEngines.StopIfStarted();
}
