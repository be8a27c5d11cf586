using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.Import;

/// <summary>After the import tests: stops the Dovecot a filtered run started for them (test.sh stops its own).</summary>
[SetUpFixture]
public sealed class ImportSetUpFixture
{
    [OneTimeTearDown]
    public void StopDovecot() => Dovecot.StopIfOwned();
}
