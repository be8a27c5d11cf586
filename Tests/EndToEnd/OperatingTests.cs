using System.Net;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 2, operating the real executable: live config reload (a good edit applies within a second, a bad
/// one is refused whole and named by JSON path while the server keeps serving), graceful stop (421 to open
/// sessions), the process's memory under an endless line, and reindex refusing while the server runs.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class OperatingTests
{
    private static IPEndPoint Smtp(ServerProcess server) => new(IPAddress.Loopback, server.ListenerPorts.Smtp);

    private static async Task<int> RcptCodeAsync(ServerProcess server, string recipient)
    {
        var (client, _) = await SmtpLineClient.OpenAsync(Smtp(server));
        await using (client)
        {
            await client.CommandAsync("EHLO tester.test");
            await client.CommandAsync("MAIL FROM:<someone@elsewhere.test>");
            return (await client.CommandAsync($"RCPT TO:<{recipient}>")).Code;
        }
    }

    [Test]
    public async Task A_valid_edit_applies_within_a_second_and_an_invalid_edit_is_refused_with_its_json_path()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        Assert.That(await RcptCodeAsync(server, "carol@example.test"), Is.EqualTo(550), "carol does not exist yet");

        // A valid edit: add carol.
        var original = await File.ReadAllTextAsync(server.ConfigPath);
        const string bob = "{ \"Email\": \"bob@example.test\",";
        const string carol = "{ \"Email\": \"carol@example.test\", \"DisplayName\": \"Carol\", \"Aliases\": [], " +
                             "\"PasswordHash\": null, \"Enabled\": true, \"MailboxQuotaMiB\": 100 },\n        ";
        var withCarol = original.Replace(bob, carol + bob);
        Assert.That(withCarol, Is.Not.EqualTo(original));
        await File.WriteAllTextAsync(server.ConfigPath, withCarol);
        Assert.That(await EventuallyAsync(async () => await RcptCodeAsync(server, "carol@example.test") == 250, TimeSpan.FromSeconds(3)),
            Is.True, "carol is accepted once the edit is picked up");

        // An invalid edit: a broken address. Refused as a whole: carol stays, the server keeps serving.
        var broken = withCarol.Replace("\"carol@example.test\"", "\"carol-at-example.test\"")
                              .Replace("\"Alice\"", "\"Alice Renamed\"");
        await File.WriteAllTextAsync(server.ConfigPath, broken);
        Assert.That(await EventuallyAsync(() => Task.FromResult(server.Output.Contains("$.MailServer.Organizations[0].Users[1].Email")), TimeSpan.FromSeconds(3)),
            Is.True, "the refusal names the JSON path:\n" + server.Output);
        Assert.That(await RcptCodeAsync(server, "carol@example.test"), Is.EqualTo(250), "the last good config stays in force");
        Assert.That(await RcptCodeAsync(server, "alice@example.test"), Is.EqualTo(250));
    }

    [Test]
    public async Task Stopping_the_server_tells_open_sessions_421_and_exits_zero()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        var (client, greeting) = await SmtpLineClient.OpenAsync(Smtp(server));
        await using (client)
        {
            Assert.That(greeting.Code, Is.EqualTo(220));
            Assert.That((await client.CommandAsync("EHLO tester.test")).Code, Is.EqualTo(250));
            var exit = server.StopAsync();
            var goodbye = await client.ReadReplyAsync();
            Assert.That(goodbye.Code, Is.EqualTo(421));
            Assert.That(goodbye.Text, Does.Contain("4.3.2"));
            Assert.That(await exit, Is.Zero);
        }
        Assert.That(server.Output, Does.Contain("mailserver stopped"));
    }

    [Test]
    public async Task An_endless_command_line_is_cut_off_and_the_process_memory_stays_flat()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        // Warm up: one ordinary delivery so the first-use allocations are behind us.
        Assert.That(await RcptCodeAsync(server, "alice@example.test"), Is.EqualTo(250));
        var before = ResidentBytes(server.ProcessId);

        var chunk = new byte[1024 * 1024];
        Array.Fill(chunk, (byte)'A');
        var sent = 0L;
        var (client, _) = await SmtpLineClient.OpenAsync(Smtp(server));
        await using (client)
        {
            try
            {
                await client.SendRawAsync("MAIL FROM:<"u8.ToArray());
                for (var i = 0; i < 200; i++)
                {
                    await client.SendRawAsync(chunk);
                    sent += chunk.Length;
                }
            }
            catch (IOException)
            {
                // The server hung up on us: that is the point.
            }
        }
        var after = ResidentBytes(server.ProcessId);
        TestContext.Out.WriteLine($"sent {sent / 1048576} MiB before the cut; RSS {before / 1048576} → {after / 1048576} MiB");
        Assert.That(sent, Is.LessThan(200L * 1024 * 1024), "the connection was cut before the client finished");
        Assert.That(after - before, Is.LessThan(64L * 1024 * 1024), "resident memory did not follow the line");
        Assert.That(await RcptCodeAsync(server, "alice@example.test"), Is.EqualTo(250), "and the server still serves");
    }

    [Test]
    public async Task Reindex_refuses_while_the_server_holds_the_database_and_runs_once_it_stopped()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        var args = new[] { "reindex", "--config", server.ConfigPath };

        var (heldExit, _, heldError) = await RunCliAsync(args);
        Assert.That(heldExit, Is.EqualTo(2));
        Assert.That(heldError, Does.Contain("held by another mailserver process").And.Contain("stop the server"));

        await server.StopAsync();
        var (exit, output, error) = await RunCliAsync(args);
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.StartWith("checked 0 message(s)"));

        // --rewrite-bodies (old single-box message files to the segmented format) runs first, then the same check.
        (exit, output, error) = await RunCliAsync([.. args, "--rewrite-bodies"]);
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.StartWith("rewrote 0 of 0 message file(s) in the segmented format: 0 already segmented, 0 left as they were")
            .And.Contain("\nchecked 0 message(s)"));
    }

    private static async Task<(int Exit, string Out, string Error)> RunCliAsync(string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await MailServer.Server.Program.RunAsync(args, output, error, new StringReader(""));
        return (exit, output.ToString(), error.ToString());
    }

    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
    }

    private static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
                return true;
            await Task.Delay(100);
        }
        return await condition();
    }
}
