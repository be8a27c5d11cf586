using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests;

/// <summary>Stops the daemons a test run starts once, on first use (pebble, PostgreSQL), when the run ends.</summary>
[SetUpFixture]
public sealed class RunWideDaemons
{
    [OneTimeTearDown]
    public void StopDaemons()
    {
        Pebble.Stop();
        PostgreSqlCluster.StopIfOwned();
    }
}
