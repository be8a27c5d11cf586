using System.Net;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// A client that hangs up is an expected event: the real executable logs one information line for it (event 2016),
/// never a warning with a stack trace.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class DisconnectLoggingTests
{
    [Test]
    public async Task A_client_that_resets_the_connection_after_a_refusal_is_one_information_line_without_a_stack()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();

        for (var i = 0; i < 3; i++)
        {
            var (client, _) = await SmtpLineClient.OpenAsync(new IPEndPoint(IPAddress.Loopback, server.ListenerPorts.Smtp));
            await client.CommandAsync("EHLO client.elsewhere.test");
            await client.CommandAsync("MAIL FROM:<someone@elsewhere.test>");
            Assert.That((await client.CommandAsync("RCPT TO:<nobody@example.test>")).Code, Is.EqualTo(550));
            client.Abort();
        }
        Assert.That(await server.WaitForOutputAsync("ended (disconnected)", TimeSpan.FromSeconds(10)), Is.True, server.Output);
        await Task.Delay(500);

        var output = server.Output;
        var sessionLines = output.Split('\n').Where(l => l.Contains("SmtpListener[", StringComparison.Ordinal)).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(output, Does.Not.Contain("faulted").And.Not.Contain("Exception").And.Not.Contain("   at "));
            Assert.That(sessionLines.Where(l => l.Contains("[2016]", StringComparison.Ordinal)), Has.All.Contains("info:")
                .And.All.Contains("the client disconnected (connection reset)"));
            Assert.That(sessionLines, Has.None.Contains("warn:"));
        });
    }
}
