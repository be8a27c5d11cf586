using MailKit;
using MailKit.Net.Imap;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Commands;

[TestFixture]
public sealed class QuotaTests
{
    private const string Alice = "alice@example.test";

    private static async Task<long> UsedKiBAsync(ImapTestServer server) =>
        (server.Store.FindMailbox(ImapTestServer.OrgId, Alice)!.UsedBytes + 1023) / 1024;

    [Test]
    public async Task Getquotaroot_and_getquota_report_the_single_root_with_storage_in_kib_and_setquota_is_refused()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await using var client = await server.LoggedInAsync();
        var used = await UsedKiBAsync(server);
        Assert.That(used, Is.GreaterThan(0));

        Assert.That(await client.CommandAsync("q1", "GETQUOTAROOT inbox"), Is.EqualTo(new[]
        {
            "* QUOTAROOT INBOX \"\"",
            $"* QUOTA \"\" (STORAGE {used} 1048576)",
            "q1 OK GETQUOTAROOT completed",
        }));
        Assert.That(await client.CommandAsync("q2", "GETQUOTA \"\""), Is.EqualTo(new[]
        {
            $"* QUOTA \"\" (STORAGE {used} 1048576)",
            "q2 OK GETQUOTA completed",
        }));
        Assert.That(await client.CommandAsync("q3", "GETQUOTA \"other\""), Is.EqualTo(new[] { "q3 NO [NONEXISTENT] No such quota root" }));
        Assert.That(await client.CommandAsync("q4", "GETQUOTAROOT Nowhere"), Is.EqualTo(new[] { "q4 NO [NONEXISTENT] No such mailbox" }));
        Assert.That(await client.CommandAsync("q5", "SETQUOTA \"\" (STORAGE 10)"), Is.EqualTo(new[] { "q5 NO [NOPERM] Quotas are set by the administrator" }));
    }

    [Test]
    public async Task The_limit_follows_a_configuration_change_and_append_and_copy_beyond_it_are_overquota()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        await using var client = await server.LoggedInAsync();
        var usedBytes = server.Store.FindMailbox(ImapTestServer.OrgId, Alice)!.UsedBytes;
        server.SetQuota(Alice, usedBytes + 10);

        Assert.That(await client.CommandAsync("q1", "GETQUOTA \"\""), Is.EqualTo(new[]
        {
            $"* QUOTA \"\" (STORAGE {await UsedKiBAsync(server)} {(usedBytes + 10) / 1024})",
            "q1 OK GETQUOTA completed",
        }));
        Assert.That(await client.CommandAsync("a1", "APPEND Drafts {20+}\r\nSubject: x\r\n\r\nbody\r\n"),
            Is.EqualTo(new[] { "a1 NO [OVERQUOTA] The mailbox is full" }));
        Assert.That(await client.CommandAsync("a2", "APPEND Drafts {8+}\r\nS: x\r\n\r\n"), Has.Some.StartsWith("a2 OK [APPENDUID"),
            "8 bytes fit within the 10 left");
        await client.CommandAsync("s1", "SELECT INBOX");
        Assert.That(await client.CommandAsync("c1", "COPY 1 \"Sent Items\""), Is.EqualTo(new[] { "c1 NO [OVERQUOTA] The mailbox is full" }));
        Assert.That(await client.CommandAsync("m1", "MOVE 1 Drafts"), Has.Some.StartsWith("m1 OK"), "MOVE adds no storage");
        server.SetQuota(Alice, 1024L * 1024 * 1024);
        await client.CommandAsync("s2", "SELECT Drafts");
        Assert.That(await client.CommandAsync("c2", "COPY 1 INBOX"), Has.Some.StartsWith("c2 OK [COPYUID"));
    }

    [Test]
    public async Task MailKit_reads_the_quota_of_the_inbox()
    {
        await using var server = await ImapTestServer.StartAsync();
        await server.DeliverAsync("alice", "one");
        using var client = await server.MailKitAsync();
        Assert.That(client.Capabilities.HasFlag(ImapCapabilities.Quota), Is.True);

        var quota = await client.Inbox.GetQuotaAsync();

        Assert.That(quota.QuotaRoot!.FullName, Is.EqualTo(""));
        Assert.That(quota.StorageLimit, Is.EqualTo(1048576u));
        Assert.That(quota.CurrentStorageSize, Is.EqualTo((uint)await UsedKiBAsync(server)));
        await client.DisconnectAsync(true);
    }
}
