using System.Text.Json;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Tests.Support;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// The WorkMail API driven by the real AWS CLI (Debian's awscli) and boto3 (python3-boto3) against the real
/// `mailserver` process: each change lands in appsettings.json (comments and untouched entries byte for byte as they
/// were) and takes effect live (IMAP logins, Send As on submission, access rules). test.sh installs both clients.
/// </summary>
[TestFixture]
public sealed class WorkMailApiTests
{
    private const string KeyId = "AKIAMAILSERVERTEST01";
    private const string Secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    private const string Org = ServerProcess.OrganizationId;
    private const string Aws = "/usr/bin/aws";
    private const string Python = "/usr/bin/python3";

    [Test]
    public async Task Aws_cli_creates_a_user_who_logs_in_and_each_change_is_in_the_file_and_live()
    {
        await using var server = await StartAsync();
        var before = await File.ReadAllTextAsync(server.ConfigPath);
        var aliceLine = before.Split('\n').Single(l => l.Contains("\"alice@example.test\", \"DisplayName\""));

        // CreateUser: a DISABLED user with the address name@default-domain until it is registered (WorkMail's model).
        var created = await AwsJsonAsync(server, "create-user", "--organization-id", Org, "--name", "carol", "--display-name", "Carol",
            "--password", "Initial-Passw0rd");
        var carolId = created.GetProperty("UserId").GetString()!;
        Assert.That(carolId, Does.Match("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"));
        var file = await File.ReadAllTextAsync(server.ConfigPath);
        Assert.That(file, Does.Contain($"\"Id\": \"{carolId}\", \"Name\": \"carol\", \"Email\": \"carol@example.test\""));
        Assert.That(await ImapLoginAsync(server, "carol@example.test", "Initial-Passw0rd"), Is.False, "a created user is disabled until registered");

        await AwsAsync(server, "register-to-work-mail", "--organization-id", Org, "--entity-id", carolId, "--email", "carol@example.test");
        Assert.That(await ImapLoginAsync(server, "carol@example.test", "Initial-Passw0rd"), Is.True, server.Output);

        await AwsAsync(server, "reset-password", "--organization-id", Org, "--user-id", carolId, "--password", "Second-Passw0rd");
        Assert.That(await ImapLoginAsync(server, "carol@example.test", "Initial-Passw0rd"), Is.False);
        Assert.That(await ImapLoginAsync(server, "carol@example.test", "Second-Passw0rd"), Is.True);

        var described = await AwsJsonAsync(server, "describe-user", "--organization-id", Org, "--user-id", "carol@example.test");
        Assert.That(described.GetProperty("State").GetString(), Is.EqualTo("ENABLED"));
        Assert.That(described.GetProperty("UserId").GetString(), Is.EqualTo(carolId));

        // A group, registered, with carol as its member: mail to it reaches her.
        var groupId = (await AwsJsonAsync(server, "create-group", "--organization-id", Org, "--name", "sales")).GetProperty("GroupId").GetString()!;
        await AwsAsync(server, "register-to-work-mail", "--organization-id", Org, "--entity-id", groupId, "--email", "sales@example.test");
        await AwsAsync(server, "associate-member-to-group", "--organization-id", Org, "--group-id", groupId, "--member-id", carolId);
        var members = await AwsJsonAsync(server, "list-group-members", "--organization-id", Org, "--group-id", "sales@example.test");
        Assert.That(members.GetProperty("Members").EnumerateArray().Select(m => m.GetProperty("Id").GetString()), Is.EqualTo(new[] { carolId }));
        Assert.That(await File.ReadAllTextAsync(server.ConfigPath), Does.Contain("\"Email\": \"sales@example.test\"").And.Contain("\"Members\": [ \"carol@example.test\" ]"));

        // Send As: refused before the grant, accepted after it.
        Assert.That(await SubmitAsync(server, "carol@example.test", "Second-Passw0rd", from: "alice@example.test", to: "sales@example.test"),
            Does.Contain("not allowed to send as"));
        await AwsAsync(server, "put-mailbox-permissions", "--organization-id", Org, "--entity-id", "alice@example.test",
            "--grantee-id", carolId, "--permission-values", "SEND_AS");
        Assert.That(await File.ReadAllTextAsync(server.ConfigPath),
            Does.Contain("{ \"Mailbox\": \"alice@example.test\", \"Grantee\": \"carol@example.test\", \"Permissions\": [ \"SendAs\" ] }"));
        Assert.That(await SubmitAsync(server, "carol@example.test", "Second-Passw0rd", from: "alice@example.test", to: "sales@example.test"),
            Is.EqualTo("sent"));
        var permissions = await AwsJsonAsync(server, "list-mailbox-permissions", "--organization-id", Org, "--entity-id", "alice@example.test");
        Assert.That(permissions.GetProperty("Permissions")[0].GetProperty("PermissionValues")[0].GetString(), Is.EqualTo("SEND_AS"));

        // An access rule and its effect; the login follows it.
        await AwsAsync(server, "put-access-control-rule", "--organization-id", Org, "--name", "no-imap-for-carol", "--effect", "DENY",
            "--description", "carol reads mail on the web only", "--actions", "IMAP", "--user-ids", carolId);
        var effect = await AwsJsonAsync(server, "get-access-control-effect", "--organization-id", Org, "--ip-address", "192.0.2.7",
            "--action", "IMAP", "--user-id", carolId);
        Assert.That(effect.GetProperty("Effect").GetString(), Is.EqualTo("DENY"));
        Assert.That(effect.GetProperty("MatchedRules").EnumerateArray().Select(r => r.GetString()), Does.Contain("no-imap-for-carol"));
        Assert.That(await ImapLoginAsync(server, "carol@example.test", "Second-Passw0rd"), Is.False, "the Deny rule applies live");
        var smtpEffect = await AwsJsonAsync(server, "get-access-control-effect", "--organization-id", Org, "--ip-address", "192.0.2.7",
            "--action", "SMTP", "--user-id", carolId);
        Assert.That(smtpEffect.GetProperty("Effect").GetString(), Is.EqualTo("ALLOW"));
        await AwsAsync(server, "delete-access-control-rule", "--organization-id", Org, "--name", "no-imap-for-carol");
        Assert.That(await ImapLoginAsync(server, "carol@example.test", "Second-Passw0rd"), Is.True);

        // A retention policy.
        await AwsAsync(server, "put-retention-policy", "--organization-id", Org, "--name", "standard",
            "--folder-configurations", "Name=INBOX,Action=DELETE,Period=365", "Name=DELETED_ITEMS,Action=PERMANENTLY_DELETE,Period=30");
        var policy = await AwsJsonAsync(server, "get-default-retention-policy", "--organization-id", Org);
        Assert.That(policy.GetProperty("Name").GetString(), Is.EqualTo("standard"));
        Assert.That(policy.GetProperty("FolderConfigurations").EnumerateArray().Select(f => $"{f.GetProperty("Name")}:{f.GetProperty("Action")}:{f.GetProperty("Period")}"),
            Is.EqualTo(new[] { "INBOX:DELETE:365", "DELETED_ITEMS:PERMANENTLY_DELETE:30" }));
        Assert.That(await File.ReadAllTextAsync(server.ConfigPath), Does.Contain("{ \"Folder\": \"Inbox\", \"Action\": \"Delete\", \"Days\": 365 }"));

        // Errors are WorkMail's, by name, with exit code 254 from the CLI.
        var missing = await RunAwsAsync(server, null, "describe-user", "--organization-id", Org, "--user-id", "nobody@example.test");
        Assert.That(missing.ExitCode, Is.EqualTo(254));
        Assert.That(missing.StandardError, Does.Contain("(EntityNotFoundException)").And.Contain("does not exist in your organization"));

        // The rest of the file is as the administrator wrote it: the comment, alice's line.
        var after = await File.ReadAllTextAsync(server.ConfigPath);
        Assert.That(after, Does.Contain("// Keys of the WorkMail API (scripts use aws workmail --endpoint-url)."));
        Assert.That(after, Does.Contain(aliceLine));

        // The admin audit trail: who, what, with the password hidden.
        var audit = string.Join("\n", Directory.GetFiles(Path.Combine(server.DataDirectory, "admin-audit", Org)).Select(File.ReadAllText));
        var createUser = audit.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement)
            .Single(e => e.GetProperty("eventName").GetString() == "CreateUser");
        Assert.That(createUser.GetProperty("userIdentity").GetProperty("accessKeyId").GetString(), Is.EqualTo(KeyId));
        Assert.That(createUser.GetProperty("requestParameters").GetProperty("Password").GetString(), Is.EqualTo("HIDDEN_DUE_TO_SECURITY_REASONS"));
        Assert.That(createUser.GetProperty("responseElements").GetProperty("UserId").GetString(), Is.EqualTo(carolId));
        Assert.That(audit, Does.Not.Contain("Initial-Passw0rd").And.Not.Contain("Second-Passw0rd"));
        Assert.That(server.Output, Does.Not.Contain(Secret).And.Not.Contain("Passw0rd"));
    }

    [Test]
    public async Task Delete_user_destroys_the_mailbox_key_and_the_other_recipient_keeps_the_shared_message()
    {
        await using var server = await StartAsync();
        var carolId = (await AwsJsonAsync(server, "create-user", "--organization-id", Org, "--name", "carol", "--display-name", "Carol",
            "--password", "Initial-Passw0rd")).GetProperty("UserId").GetString()!;
        await AwsAsync(server, "register-to-work-mail", "--organization-id", Org, "--entity-id", carolId, "--email", "carol@example.test");
        var replies = await FlowRulesInboundTests.SendAsync(server, "someone@elsewhere.test", "for carol and alice", "carol@example.test", "alice@example.test");
        Assert.That(replies[^2].Code, Is.EqualTo(250));

        await AwsAsync(server, "deregister-from-work-mail", "--organization-id", Org, "--entity-id", carolId);
        await AwsAsync(server, "delete-user", "--organization-id", Org, "--user-id", carolId);

        var output = new StringWriter();
        Assert.That(await MailServer.Server.Program.RunAsync(["keys", "status", "--config", server.ConfigPath], output, output, new StringReader("")), Is.EqualTo(0));
        Assert.That(output.ToString(), Does.Contain("shredded mailboxes: 1").And.Contain("awaiting shredding: none"), output.ToString());
        Assert.That(server.Output, Does.Contain("deleted and its key destroyed (1 messages)"));
        await server.StopAsync();
        await using var store = server.OpenStore();
        Assert.That(store.FindMailbox(Org, "carol@example.test"), Is.Null, "carol's mailbox is gone");
        Assert.That((await store.VerifyAsync(null, CancellationToken.None)).Failed, Is.EqualTo(0), "alice's copy of the shared message still decrypts");
        Assert.That(store.Ledger(Org).Shredded, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task A_wrong_signature_and_an_unknown_key_are_refused_and_change_nothing()
    {
        await using var server = await StartAsync();
        var before = await File.ReadAllTextAsync(server.ConfigPath);

        var wrongSecret = await RunAwsAsync(server, new() { ["AWS_SECRET_ACCESS_KEY"] = "not-the-secret-0000000000000000000000000" },
            "create-group", "--organization-id", Org, "--name", "intruders");
        Assert.That(wrongSecret.ExitCode, Is.EqualTo(254));
        Assert.That(wrongSecret.StandardError, Does.Contain("(InvalidSignatureException)"));

        var unknownKey = await RunAwsAsync(server, new() { ["AWS_ACCESS_KEY_ID"] = "AKIAUNKNOWNKEY000000" },
            "create-group", "--organization-id", Org, "--name", "intruders");
        Assert.That(unknownKey.ExitCode, Is.EqualTo(254));
        Assert.That(unknownKey.StandardError, Does.Contain("(UnrecognizedClientException)"));

        // Another organization's id is not found for this key.
        var otherOrg = await RunAwsAsync(server, null, "list-users", "--organization-id", "m-ffffffffffffffffffffffffffffffff");
        Assert.That(otherOrg.StandardError, Does.Contain("(OrganizationNotFoundException)"));

        Assert.That(await File.ReadAllTextAsync(server.ConfigPath), Is.EqualTo(before));
        var refused = await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(server.DataDirectory, "admin-audit", "unauthenticated")).Single());
        Assert.That(refused, Does.Contain("InvalidSignatureException").And.Contain("UnrecognizedClientException").And.Contain("AKIAUNKNOWNKEY000000"));
    }

    [Test]
    public async Task Boto3_pages_lists_manages_aliases_and_quota_and_catches_modelled_errors()
    {
        await using var server = await StartAsync();
        var script = Path.Combine(server.Root, "workmail_boto3.py");
        await File.WriteAllTextAsync(script, Boto3Script);
        var run = await ExternalProgram.RunAsync(Python, [script, $"http://127.0.0.1:{server.ListenerPorts.Admin}", Org, KeyId, Secret],
            TimeSpan.FromSeconds(60));
        Assert.That(run.ExitCode, Is.EqualTo(0), run + "\n--- server ---\n" + server.Output);
        var r = JsonDocument.Parse(run.StandardOutput).RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(r.GetProperty("paged_users").EnumerateArray().Select(e => e.GetString()),
                Is.EqualTo(new[] { "alice@example.test", "bob@example.test" }), "one user per page, NextToken to the next");
            Assert.That(r.GetProperty("pages").GetInt32(), Is.EqualTo(2));
            Assert.That(r.GetProperty("aliases").EnumerateArray().Select(e => e.GetString()),
                Is.EqualTo(new[] { "a.liddell@example.test", "alice.l@example.test" }));
            Assert.That(r.GetProperty("default_domain").GetBoolean(), Is.True);
            Assert.That(r.GetProperty("quota").GetInt32(), Is.EqualTo(2048));
            Assert.That(r.GetProperty("not_found").GetString(), Is.EqualTo("EntityNotFoundException"));
            Assert.That(r.GetProperty("in_use").GetString(), Is.EqualTo("EmailAddressInUseException"));
            Assert.That(r.GetProperty("dmarc").GetBoolean(), Is.False);
            Assert.That(r.GetProperty("tags").GetString(), Is.EqualTo("cost-center=mail"));
        });
        var file = await File.ReadAllTextAsync(server.ConfigPath);
        Assert.That(file, Does.Contain("\"Aliases\": [ \"a.liddell@example.test\", \"alice.l@example.test\" ]"));
        Assert.That(file, Does.Contain("\"MailboxQuotaMiB\": 2048"));
        // An alias made through the API receives mail at once.
        var (exit, transcript) = await Swaks.RunAsync("--server", $"127.0.0.1:{server.ListenerPorts.Smtp}",
            "--from", "someone@elsewhere.test", "--to", "alice.l@example.test", "--body", "via the new alias");
        Assert.That(exit, Is.EqualTo(0), transcript);
        Assert.That(transcript, Does.Contain("250 "));
    }

    [Test]
    public async Task An_export_job_writes_the_mailbox_as_a_zip_of_MIME_messages_with_the_manifest()
    {
        await using var server = await StartAsync();
        var marker = "export-marker-" + Guid.NewGuid().ToString("N");
        foreach (var subject in new[] { "one", "two" })
        {
            var (exit, transcript) = await Swaks.RunAsync("--server", $"127.0.0.1:{server.ListenerPorts.Smtp}",
                "--from", "someone@elsewhere.test", "--to", "alice@example.test", "--header", $"Subject: {subject}", "--body", marker);
            Assert.That(exit, Is.EqualTo(0), transcript);
        }

        var jobId = (await AwsJsonAsync(server, "start-mailbox-export-job", "--organization-id", Org, "--entity-id", "alice@example.test",
            "--description", "leaving WorkMail", "--role-arn", "arn:aws:iam::111122223333:role/export",
            "--kms-key-arn", "arn:aws:kms:eu-west-1:111122223333:key/example", "--s3-bucket-name", "migration", "--s3-prefix", "alice"))
            .GetProperty("JobId").GetString()!;
        JsonElement job = default;
        for (var i = 0; i < 100; i++)
        {
            job = await AwsJsonAsync(server, "describe-mailbox-export-job", "--organization-id", Org, "--job-id", jobId);
            if (job.GetProperty("State").GetString() != "RUNNING")
                break;
            await Task.Delay(200);
        }
        Assert.That(job.GetProperty("State").GetString(), Is.EqualTo("COMPLETED"), job.ToString());
        Assert.That(job.GetProperty("EstimatedProgress").GetInt32(), Is.EqualTo(100));
        var s3Path = job.GetProperty("S3Path").GetString()!;
        Assert.That(s3Path, Is.EqualTo($"alice/{jobId}.zip"));

        var zipPath = Path.Combine(server.DataDirectory, "exports", "migration", s3Path);
        using (var zip = System.IO.Compression.ZipFile.OpenRead(zipPath))
        {
            var inbox = zip.Entries.Where(e => e.FullName.StartsWith("INBOX/", StringComparison.Ordinal) && e.FullName.EndsWith(".eml", StringComparison.Ordinal)).ToList();
            Assert.That(inbox, Has.Count.EqualTo(2));
            foreach (var entry in inbox)
            {
                using var stream = entry.Open();
                var message = await MimeMessage.LoadAsync(stream);
                Assert.That(message.TextBody, Does.Contain(marker));
            }
        }
        var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.ChangeExtension(zipPath, ".json"))).RootElement;
        Assert.That(manifest.EnumerateObject().Select(p => p.Name),
            Is.EquivalentTo(new[] { "totalNonExportableItems", "totalMessages", "sha384Hash", "totalBytes", "totalFolders", "startTime", "endTime" }));
        Assert.That(manifest.GetProperty("totalMessages").GetString(), Is.EqualTo("2"));
        Assert.That(manifest.GetProperty("sha384Hash").GetString(),
            Is.EqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA384.HashData(await File.ReadAllBytesAsync(zipPath)))));

        var listed = await AwsJsonAsync(server, "list-mailbox-export-jobs", "--organization-id", Org);
        Assert.That(listed.GetProperty("Jobs")[0].GetProperty("JobId").GetString(), Is.EqualTo(jobId));
        // WorkMail's limit: one export per mailbox every 24 hours.
        var again = await RunAwsAsync(server, null, "start-mailbox-export-job", "--organization-id", Org, "--entity-id", "alice@example.test",
            "--role-arn", "arn:aws:iam::111122223333:role/export", "--kms-key-arn", "arn:aws:kms:eu-west-1:111122223333:key/example",
            "--s3-bucket-name", "migration", "--s3-prefix", "alice");
        Assert.That(again.StandardError, Does.Contain("(LimitExceededException)"));
    }

    private const string Boto3Script = """
        import json, sys, boto3
        endpoint, org, key, secret = sys.argv[1:5]
        c = boto3.client("workmail", endpoint_url=endpoint, region_name="eu-west-1",
                         aws_access_key_id=key, aws_secret_access_key=secret)
        out = {}
        users, token, pages = [], None, 0
        while True:
            kwargs = {"OrganizationId": org, "MaxResults": 1}
            if token: kwargs["NextToken"] = token
            page = c.list_users(**kwargs); pages += 1
            users += [u["Email"] for u in page["Users"]]
            token = page.get("NextToken")
            if not token: break
        out["paged_users"], out["pages"] = users, pages
        c.create_alias(OrganizationId=org, EntityId="alice@example.test", Alias="alice.l@example.test")
        out["aliases"] = c.list_aliases(OrganizationId=org, EntityId="alice@example.test")["Aliases"]
        out["default_domain"] = c.get_mail_domain(OrganizationId=org, DomainName="example.test")["IsDefault"]
        c.update_mailbox_quota(OrganizationId=org, UserId="alice@example.test", MailboxQuota=2048)
        out["quota"] = c.get_mailbox_details(OrganizationId=org, UserId="alice@example.test")["MailboxQuota"]
        try:
            c.describe_user(OrganizationId=org, UserId="nobody@example.test")
        except c.exceptions.EntityNotFoundException as e:
            out["not_found"] = e.response["Error"]["Code"]
        try:
            c.create_alias(OrganizationId=org, EntityId="bob@example.test", Alias="alice.l@example.test")
        except c.exceptions.EmailAddressInUseException as e:
            out["in_use"] = e.response["Error"]["Code"]
        c.put_inbound_dmarc_settings(OrganizationId=org, Enforced=False)
        out["dmarc"] = c.describe_inbound_dmarc_settings(OrganizationId=org)["Enforced"]
        arn = c.describe_organization(OrganizationId=org)["ARN"]
        c.tag_resource(ResourceARN=arn, Tags=[{"Key": "cost-center", "Value": "mail"}])
        out["tags"] = ",".join(t["Key"] + "=" + t["Value"] for t in c.list_tags_for_resource(ResourceARN=arn)["Tags"])
        print(json.dumps(out))
        """;

    private static async Task<ServerProcess> StartAsync()
    {
        var server = ServerProcess.Create();
        var config = await File.ReadAllTextAsync(server.ConfigPath);
        const string rules = "\"AccessControlRules\": [ { \"Name\": \"default\", \"Effect\": \"Allow\" } ]";
        Assert.That(config, Does.Contain(rules));
        config = config.Replace(rules, rules + """
            ,
                  // Keys of the WorkMail API (scripts use aws workmail --endpoint-url).
                  "AdminApi": { "AccessKeys": [ { "AccessKeyId": "AKIAMAILSERVERTEST01", "SecretAccessKey": "file:keys/api.secret" } ] }
            """);
        await File.WriteAllTextAsync(server.ConfigPath, config);
        Directory.CreateDirectory(Path.Combine(server.DataDirectory, "keys"));
        await File.WriteAllTextAsync(Path.Combine(server.DataDirectory, "keys", "api.secret"), Secret + "\n");
        await server.StartAsync();
        return server;
    }

    private static Task<ExternalProgramResult> RunAwsAsync(ServerProcess server, Dictionary<string, string>? environment, params string[] arguments)
    {
        var env = new Dictionary<string, string>
        {
            ["AWS_ACCESS_KEY_ID"] = KeyId,
            ["AWS_SECRET_ACCESS_KEY"] = Secret,
            ["AWS_DEFAULT_REGION"] = "eu-west-1",
            ["AWS_PAGER"] = "",
            ["AWS_CONFIG_FILE"] = "/dev/null",
            ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null",
        };
        foreach (var (k, v) in environment ?? [])
            env[k] = v;
        return ExternalProgram.RunAsync(Aws,
            ["workmail", "--endpoint-url", $"http://127.0.0.1:{server.ListenerPorts.Admin}", "--output", "json", .. arguments],
            TimeSpan.FromSeconds(60), environment: env);
    }

    private static async Task AwsAsync(ServerProcess server, params string[] arguments)
    {
        var run = await RunAwsAsync(server, null, arguments);
        Assert.That(run.ExitCode, Is.EqualTo(0), $"aws workmail {string.Join(' ', arguments)}\n{run}\n--- server ---\n{server.Output}");
    }

    private static async Task<JsonElement> AwsJsonAsync(ServerProcess server, params string[] arguments)
    {
        var run = await RunAwsAsync(server, null, arguments);
        Assert.That(run.ExitCode, Is.EqualTo(0), $"aws workmail {string.Join(' ', arguments)}\n{run}\n--- server ---\n{server.Output}");
        return JsonDocument.Parse(run.StandardOutput).RootElement.Clone();
    }

    private static async Task<bool> ImapLoginAsync(ServerProcess server, string user, string password)
    {
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        try
        {
            await imap.AuthenticateAsync(user, password);
            return true;
        }
        catch (AuthenticationException)
        {
            return false;
        }
    }

    /// <summary>Submits a message as <paramref name="user"/>; "sent", or the refusal's text.</summary>
    private static async Task<string> SubmitAsync(ServerProcess server, string user, string password, string from, string to)
    {
        using var smtp = new SmtpClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await smtp.ConnectAsync("127.0.0.1", server.ListenerPorts.Submission, SecureSocketOptions.StartTls);
        await smtp.AuthenticateAsync(user, password);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(from));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = "send as";
        message.Body = new TextPart("plain") { Text = "hello" };
        try
        {
            await smtp.SendAsync(message);
            return "sent";
        }
        catch (SmtpCommandException e)
        {
            return $"{(int)e.StatusCode} {e.Message}";
        }
    }
}
