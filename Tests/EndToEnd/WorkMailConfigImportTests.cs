using System.Text;
using System.Text.Json;
using MailKit.Net.Imap;
using MailKit.Security;
using MailServer.Server;
using MailServer.Server.Configuration;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// `mailserver import workmail-config DIR` on JSON shaped like the AWS CLI's output for a WorkMail organization, then
/// the real server's WorkMail API (through Debian's AWS CLI) lists the same organization back: ids, names, addresses,
/// states, members, aliases, permissions, rules, retention and DMARC; a user logs in with the password from the CSV.
/// </summary>
[TestFixture]
public sealed class WorkMailConfigImportTests
{
    private const string Org = "m-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string JdoeId = "1f0e8c1a-0000-4000-8000-00000000000a";
    private const string MsmithId = "1f0e8c1a-0000-4000-8000-00000000000b";
    private const string OldId = "1f0e8c1a-0000-4000-8000-00000000000c";
    private const string EngId = "1f0e8c1a-0000-4000-8000-0000000000e1";
    private const string KeyId = "AKIAIMPORTTEST000001";
    private const string Secret = "import-test-secret-0123456789abcdef";

    private static readonly Dictionary<string, string> Fixtures = new()
    {
        ["organization.json"] = $$"""{ "OrganizationId": "{{Org}}", "Alias": "acme", "State": "Active", "DefaultMailDomain": "acme.test" }""",
        ["mail-domains.json"] = """{ "MailDomains": [ { "DomainName": "acme.awsapps.com", "DefaultDomain": false }, { "DomainName": "acme.test", "DefaultDomain": true } ] }""",
        ["users.json"] = $$"""
            { "Users": [
              { "Id": "{{JdoeId}}", "Email": "jdoe@acme.test", "Name": "jdoe", "DisplayName": "John Doe", "State": "ENABLED", "UserRole": "USER" },
              { "Id": "{{MsmithId}}", "Email": "msmith@acme.test", "Name": "msmith", "DisplayName": "Mary Smith", "State": "ENABLED", "UserRole": "USER" },
              { "Id": "{{OldId}}", "Name": "old", "DisplayName": "Old Account", "State": "DISABLED", "UserRole": "USER" },
              { "Id": "1f0e8c1a-0000-4000-8000-00000000000d", "Name": "gone", "DisplayName": "Gone", "State": "DELETED", "UserRole": "USER" }
            ] }
            """,
        ["groups.json"] = $$"""{ "Groups": [ { "Id": "{{EngId}}", "Email": "eng@acme.test", "Name": "Engineering", "State": "ENABLED" } ] }""",
        [$"group-members/{EngId}.json"] = $$"""
            { "Members": [ { "Id": "{{JdoeId}}", "Name": "jdoe", "Type": "USER", "State": "ENABLED" },
                           { "Id": "{{MsmithId}}", "Name": "msmith", "Type": "USER", "State": "ENABLED" } ] }
            """,
        [$"aliases/{JdoeId}.json"] = """{ "Aliases": [ "jdoe@acme.test", "john@acme.test", "jdoe@acme.awsapps.com" ] }""",
        [$"mailbox-permissions/{JdoeId}.json"] = $$"""
            { "Permissions": [ { "GranteeId": "{{MsmithId}}", "GranteeType": "USER", "PermissionValues": [ "SEND_AS", "SEND_ON_BEHALF" ] } ] }
            """,
        [$"mailbox-details/{JdoeId}.json"] = """{ "MailboxQuota": 2048, "MailboxSize": 12.5 }""",
        ["access-control-rules.json"] = $$"""
            { "Rules": [
              { "Name": "default", "Effect": "ALLOW", "Description": "everyone", "IpRanges": [], "NotIpRanges": [], "Actions": [], "NotActions": [], "UserIds": [], "NotUserIds": [] },
              { "Name": "no-ews", "Effect": "DENY", "Description": "no EWS", "Actions": [ "EWS" ] },
              { "Name": "no-imap-for-old", "Effect": "DENY", "Description": "old account", "Actions": [ "IMAP" ], "UserIds": [ "{{OldId}}" ] }
            ] }
            """,
        ["retention-policy.json"] = """{ "Id": "rp-1", "Name": "standard", "FolderConfigurations": [ { "Name": "INBOX", "Action": "DELETE", "Period": 365 }, { "Name": "DRAFTS", "Action": "NONE" } ] }""",
        ["inbound-dmarc.json"] = """{ "Enforced": false }""",
    };

    [Test]
    public async Task An_exported_organization_is_imported_and_the_API_lists_it_back()
    {
        await using var server = ServerProcess.Create();
        var dir = Path.Combine(server.Root, "workmail-export");
        foreach (var (name, content) in Fixtures)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, name))!);
            await File.WriteAllTextAsync(Path.Combine(dir, name), content);
        }
        var csv = Path.Combine(server.Root, "passwords.csv");
        await File.WriteAllTextAsync(csv, "jdoe@acme.test,Imported-Passw0rd\n");
        var before = await File.ReadAllTextAsync(server.ConfigPath);

        var dry = await CliAsync("import", "workmail-config", dir, "--dry-run", "--passwords", csv, "--config", server.ConfigPath);
        Assert.That(dry.Code, Is.EqualTo(0), dry.Error);
        Assert.That(dry.Out, Does.Contain("Dry run: organization acme").And.Contain("\"jdoe@acme.test\""));
        Assert.That(dry.Error, Does.Contain("no-ews"), "the EWS-only rule is left out with a warning");
        Assert.That(await File.ReadAllTextAsync(server.ConfigPath), Is.EqualTo(before), "a dry run writes nothing");

        var run = await CliAsync("import", "workmail-config", dir, "--passwords", csv, "--config", server.ConfigPath);
        Assert.That(run.Code, Is.EqualTo(0), run.Error);
        Assert.That(run.Out, Does.Contain("msmith@acme.test: ").And.Contain("old@acme.test: "), "one-time passwords for the users without one");
        Assert.That(run.Out, Does.Not.Contain("jdoe@acme.test: "));
        var again = await CliAsync("import", "workmail-config", dir, "--config", server.ConfigPath);
        Assert.That(again.Code, Is.EqualTo(1));
        Assert.That(again.Error, Does.Contain("already in"));

        // An access key for the imported organization, as its admin would add it.
        var bytes = JsonFileEdits.Apply(await File.ReadAllBytesAsync(server.ConfigPath), [new JsonEdit.Set(["MailServer", "Organizations", 1], "AdminApi",
            System.Text.Json.Nodes.JsonNode.Parse($$"""{ "AccessKeys": [ { "AccessKeyId": "{{KeyId}}", "SecretAccessKey": "{{Secret}}" } ] }"""))]);
        await File.WriteAllBytesAsync(server.ConfigPath, bytes);
        await server.StartAsync();

        var users = await AwsAsync(server, "list-users", "--organization-id", Org);
        Assert.That(users.GetProperty("Users").EnumerateArray().Select(u => $"{u.GetProperty("Id")} {u.GetProperty("Name")} {u.GetProperty("Email")} {u.GetProperty("State")}"),
            Is.EqualTo(new[]
            {
                $"{JdoeId} jdoe jdoe@acme.test ENABLED", $"{MsmithId} msmith msmith@acme.test ENABLED", $"{OldId} old old@acme.test DISABLED",
            }));
        var members = await AwsAsync(server, "list-group-members", "--organization-id", Org, "--group-id", EngId);
        Assert.That(members.GetProperty("Members").EnumerateArray().Select(m => m.GetProperty("Id").GetString()), Is.EqualTo(new[] { JdoeId, MsmithId }));
        var aliases = await AwsAsync(server, "list-aliases", "--organization-id", Org, "--entity-id", JdoeId);
        Assert.That(aliases.GetProperty("Aliases").EnumerateArray().Select(a => a.GetString()), Is.EqualTo(new[] { "john@acme.test" }));
        var permissions = await AwsAsync(server, "list-mailbox-permissions", "--organization-id", Org, "--entity-id", JdoeId);
        Assert.That(permissions.GetProperty("Permissions")[0].GetProperty("GranteeId").GetString(), Is.EqualTo(MsmithId));
        Assert.That(permissions.GetProperty("Permissions")[0].GetProperty("PermissionValues").EnumerateArray().Select(v => v.GetString()),
            Is.EqualTo(new[] { "SEND_AS", "SEND_ON_BEHALF" }));
        var quota = await AwsAsync(server, "get-mailbox-details", "--organization-id", Org, "--user-id", JdoeId);
        Assert.That(quota.GetProperty("MailboxQuota").GetInt32(), Is.EqualTo(2048));
        var rules = await AwsAsync(server, "list-access-control-rules", "--organization-id", Org);
        Assert.That(rules.GetProperty("Rules").EnumerateArray().Select(r => r.GetProperty("Name").GetString()), Is.EqualTo(new[] { "default", "no-imap-for-old" }));
        Assert.That(rules.GetProperty("Rules")[1].GetProperty("UserIds")[0].GetString(), Is.EqualTo(OldId));
        var retention = await AwsAsync(server, "get-default-retention-policy", "--organization-id", Org);
        Assert.That(retention.GetProperty("Id").GetString(), Is.EqualTo("rp-1"));
        Assert.That(retention.GetProperty("FolderConfigurations").GetArrayLength(), Is.EqualTo(1));
        var dmarc = await AwsAsync(server, "describe-inbound-dmarc-settings", "--organization-id", Org);
        Assert.That(dmarc.GetProperty("Enforced").GetBoolean(), Is.False);

        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync("john@acme.test", "Imported-Passw0rd");
        Assert.That(imap.IsAuthenticated, Is.True);
    }

    private static async Task<(int Code, string Out, string Error)> CliAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync(args, output, error, new StringReader(""));
        return (code, output.ToString(), error.ToString());
    }

    private static async Task<JsonElement> AwsAsync(ServerProcess server, params string[] arguments)
    {
        var run = await ExternalProgram.RunAsync("/usr/bin/aws",
            ["workmail", "--endpoint-url", $"http://127.0.0.1:{server.ListenerPorts.Admin}", "--output", "json", .. arguments],
            TimeSpan.FromSeconds(60), environment: new Dictionary<string, string>
            {
                ["AWS_ACCESS_KEY_ID"] = KeyId, ["AWS_SECRET_ACCESS_KEY"] = Secret, ["AWS_DEFAULT_REGION"] = "eu-west-1",
                ["AWS_CONFIG_FILE"] = "/dev/null", ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
            });
        Assert.That(run.ExitCode, Is.EqualTo(0), $"aws workmail {string.Join(' ', arguments)}\n{run}\n--- server ---\n{server.Output}");
        return JsonDocument.Parse(run.StandardOutput).RootElement.Clone();
    }
}
