using MailServer.Server.Security;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 20, the PKCS#11 key provider against SoftHSM (Debian softhsm2, a token initialised per test in a temporary
/// folder named by SOFTHSM2_CONF): the server starts with its master key in the token, delivers and reads mail, never
/// writes a key file; a rotation generates version 2 inside the token and destroys version 1 there; a wrong PIN stops the
/// start with a clear error.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class Pkcs11KeyProviderTests
{
    private const string Password = "keys test password 1";
    private const string Module = "/usr/lib/softhsm/libsofthsm2.so";
    private const string Pin = "318530";

    /// <summary>A fresh token labelled "mailserver" in its own folder; returns the SOFTHSM2_CONF path.</summary>
    private static async Task<string> InitTokenAsync(string root)
    {
        var tokens = Path.Combine(root, "softhsm-tokens");
        Directory.CreateDirectory(tokens);
        var conf = Path.Combine(root, "softhsm2.conf");
        await File.WriteAllTextAsync(conf, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n");
        var (code, output) = await RunAsync(conf, "softhsm2-util", "--init-token", "--free", "--label", "mailserver", "--pin", Pin, "--so-pin", "5180231");
        Assert.That(code, Is.EqualTo(0), output);
        return conf;
    }

    private static async Task<(int Code, string Output)> RunAsync(string softHsmConf, string program, params string[] args)
    {
        var run = await ExternalProgram.RunAsync(program, args, TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string> { ["SOFTHSM2_CONF"] = softHsmConf });
        return (run.ExitCode, run.StandardOutput + run.StandardError);
    }

    private static async Task<string> TokenObjectsAsync(string conf) =>
        (await RunAsync(conf, "pkcs11-tool", "--module", Module, "--token-label", "mailserver", "--login", "--pin", Pin, "--list-objects")).Output;

    private static async Task<ServerProcess> CreateAsync(string pin)
    {
        var server = ServerProcess.Create();
        var conf = await InitTokenAsync(server.Root);
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"")
            .Replace("\"MasterKeyPath\": \"keys/example.key\",",
                $"\"MasterKeyProvider\": \"Pkcs11\", \"Pkcs11\": {{ \"Library\": \"{Module}\", \"TokenLabel\": \"mailserver\", \"PinFile\": \"hsm.pin\" }},"));
        Directory.CreateDirectory(server.DataDirectory);
        File.WriteAllText(Path.Combine(server.DataDirectory, "hsm.pin"), pin + "\n");
        server.Environment["SOFTHSM2_CONF"] = conf;
        return server;
    }

    [Test]
    public async Task A_server_with_its_master_key_in_softhsm_delivers_and_reads_mail_and_rotates_inside_the_token()
    {
        await using var server = await CreateAsync(Pin);
        var conf = server.Environment["SOFTHSM2_CONF"];
        await server.StartAsync();
        Assert.That((await FlowRulesInboundTests.SendAsync(server, "someone@elsewhere.test", "held-by-hsm", "alice@example.test"))[^2].Code, Is.EqualTo(250));
        Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("held-by-hsm"));
        var objects = await TokenObjectsAsync(conf);
        Assert.That(objects, Does.Contain("label:      mailserver-example"), "version 1 was generated in the token");
        Assert.That(objects, Does.Contain("Secret Key Object; AES length 32"));
        Assert.That(objects, Does.Contain("Access:     sensitive, always sensitive, never extractable, local"), "generated in the token, never readable outside it");
        Assert.That(objects, Does.Contain("Usage:      encrypt\n"), "it only encrypts (the derivation), nothing else");

        var (statusCode, status) = await KeysCli(server, "keys", "status");
        Assert.That(statusCode, Is.EqualTo(0), status);
        Assert.That(status, Does.Contain("provider Pkcs11"));
        Assert.That(status, Does.Contain("pkcs11:token=mailserver;object=mailserver-example"));

        var (rotated, output) = await KeysCli(server, "keys", "rotate", "--org", "example");
        Assert.That(rotated, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("master key version 2 is current"));
        Assert.That(output, Does.Not.Contain("remove master key version 1"), "the token object is destroyed by the server");
        var after = await TokenObjectsAsync(conf);
        Assert.That(after, Does.Contain("label:      mailserver-example.v2"));
        Assert.That(after, Does.Not.Match(@"label:\s+mailserver-example\n"), "version 1 is gone from the token");
        Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("held-by-hsm"));
        await server.StopAsync();

        // A fresh start opens everything with version 2 from the token; no key file was ever written.
        await server.StartAsync();
        Assert.That(await FlowRulesInboundTests.SubjectsAsync(server, "alice@example.test", Password, "INBOX"), Does.Contain("held-by-hsm"));
        await server.StopAsync();
        Assert.That(Directory.EnumerateFiles(server.DataDirectory, "*.key", SearchOption.AllDirectories), Is.Empty, "no master key file on disk");
        Assert.That(server.Output, Does.Not.Contain(Pin), "the PIN is never logged");
    }

    [Test]
    public async Task A_wrong_pin_stops_the_start_with_a_clear_error()
    {
        await using var server = await CreateAsync("000000");

        var failure = Assert.ThrowsAsync<InvalidOperationException>(async () => await server.StartAsync());

        Assert.That(failure!.Message, Does.Contain("mailserver exited with 2"));
        Assert.That(failure.Message, Does.Contain("The PIN of the PKCS#11 token 'mailserver' is wrong (PinFile "));
        Assert.That(failure.Message, Does.Contain("CKR_PIN_INCORRECT"));
        Assert.That(failure.Message, Does.Not.Contain("000000"), "the PIN is never printed");
    }

    private static async Task<(int Code, string Output)> KeysCli(ServerProcess server, params string[] args)
    {
        var output = new StringWriter();
        var code = await MailServer.Server.Program.RunAsync([.. args, "--config", server.ConfigPath], output, output, new StringReader(""));
        TestContext.Progress.WriteLine($"mailserver {string.Join(' ', args)} → {code}\n{output}");
        return (code, output.ToString());
    }
}
