using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using MailKit.Net.Imap;
using MailKit.Net.Smtp;
using MailKit.Security;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// Issue 19: the HTTPS listener answers Thunderbird, Outlook and Apple devices with the server's real host name and
/// ports, and serves the MTA-STS policy; a client that follows the autoconfig answer logs in. One server for the
/// fixture; the certificate is trusted by the fingerprint the server logs at start, as a user would check it.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class ClientSetupTests
{
    private const string Password = "client setup test password";
    private ServerProcess _server = null!;
    private HttpClient _http = null!;
    private string _fingerprint = "";

    [OneTimeSetUp]
    public async Task StartServer()
    {
        _server = ServerProcess.Create();
        File.WriteAllText(_server.ConfigPath, File.ReadAllText(_server.ConfigPath)
            .Replace("\"PasswordHash\": null", $"\"PasswordHash\": \"{PasswordHasher.Hash(Password, iterations: 1000)}\"")
            .Replace("\"AccessControlRules\": [", "\"MtaSts\": { \"Mode\": \"Enforce\", \"MaxAgeSeconds\": 86400 },\n" +
                     "      \"AccessControlRules\": [ { \"Name\": \"no-bob\", \"Effect\": \"Deny\", \"Users\": [ \"bob@example.test\" ] },"));
        await _server.StartAsync();
        Assert.That(await _server.WaitForOutputAsync("SHA-256 fingerprint", TimeSpan.FromSeconds(10)), _server.Output);
        _fingerprint = Regex.Match(_server.Output, "SHA-256 fingerprint ([0-9A-F:]{95})").Groups[1].Value;
        Assert.That(_fingerprint, Is.Not.Empty, _server.Output);
        _http = new HttpClient(new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate is not null && Fingerprint(certificate) == _fingerprint,
            AllowAutoRedirect = false,
        })
        { BaseAddress = new Uri($"https://127.0.0.1:{_server.ListenerPorts.Https}") };
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    private static string Fingerprint(X509Certificate certificate) =>
        string.Join(':', SHA256.HashData(certificate.GetRawCertData()).Select(b => b.ToString("X2")));

    [Test]
    public async Task Thunderbird_autoconfig_names_the_server_and_its_ports_and_a_client_following_it_logs_in()
    {
        using var response = await _http.GetAsync("/mail/config-v1.1.xml?emailaddress=alice%40example.test");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/xml"));
        var doc = XDocument.Parse(await response.Content.ReadAsStringAsync());

        // The clientConfig 1.1 format's required parts: version, one emailProvider with its id, domain and
        // displayName, and incoming and outgoing servers each with hostname, port, socketType, authentication, username.
        var root = doc.Root!;
        Assert.That(root.Name.LocalName, Is.EqualTo("clientConfig"));
        Assert.That(root.Attribute("version")?.Value, Is.EqualTo("1.1"));
        var provider = root.Elements("emailProvider").Single();
        Assert.Multiple(() =>
        {
            Assert.That(provider.Attribute("id")?.Value, Is.EqualTo("example.test"));
            Assert.That(provider.Elements("domain").Select(d => d.Value), Does.Contain("example.test"));
            Assert.That(provider.Element("displayName")?.Value, Is.Not.Empty);
        });
        var servers = provider.Elements("incomingServer").Concat(provider.Elements("outgoingServer")).ToList();
        Assert.That(servers.Select(s => (s.Name.LocalName, s.Attribute("type")?.Value, s.Element("port")?.Value, s.Element("socketType")?.Value)),
            Is.EqualTo(new[]
            {
                ("incomingServer", "imap", _server.ListenerPorts.Imaps.ToString(), "SSL"),
                ("incomingServer", "imap", _server.ListenerPorts.Imap.ToString(), "STARTTLS"),
                ("outgoingServer", "smtp", _server.ListenerPorts.Submissions.ToString(), "SSL"),
                ("outgoingServer", "smtp", _server.ListenerPorts.Submission.ToString(), "STARTTLS"),
            }));

        foreach (var server in servers)
        {
            Assert.That(server.Element("hostname")?.Value, Is.EqualTo("mx.example.test"));
            Assert.That(server.Element("authentication")?.Value, Is.EqualTo("password-cleartext"));
            // Configure the client from the answer; the host name is the server's, reached here on loopback.
            var port = int.Parse(server.Element("port")!.Value);
            var socket = server.Element("socketType")!.Value == "SSL" ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTls;
            var user = server.Element("username")!.Value.Replace("%EMAILADDRESS%", "alice@example.test");
            MailKit.MailService client = server.Attribute("type")!.Value == "imap" ? new ImapClient() : new SmtpClient();
            using (client)
            {
                client.ServerCertificateValidationCallback = (_, certificate, _, _) => certificate is not null && Fingerprint(certificate) == _fingerprint;
                await client.ConnectAsync("127.0.0.1", port, socket);
                await client.AuthenticateAsync(user, Password);
                Assert.That(client.IsAuthenticated, $"{server.Attribute("type")!.Value} on {port} ({socket})");
                await client.DisconnectAsync(true);
            }
        }
    }

    [Test]
    public async Task The_well_known_autoconfig_path_answers_by_host_and_an_unknown_domain_gets_404()
    {
        using var byHost = new HttpRequestMessage(HttpMethod.Get, "/.well-known/autoconfig/mail/config-v1.1.xml");
        byHost.Headers.Host = "autoconfig.example.test";
        using var answer = await _http.SendAsync(byHost);
        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(XDocument.Parse(await answer.Content.ReadAsStringAsync()).Root!.Element("emailProvider")!.Attribute("id")!.Value,
            Is.EqualTo("example.test"));

        using var other = await _http.GetAsync("/mail/config-v1.1.xml?emailaddress=someone%40elsewhere.test");
        Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        // The typed address decides, even on the autoconfig host of a domain served here.
        using var otherOnOurHost = new HttpRequestMessage(HttpMethod.Get, "/mail/config-v1.1.xml?emailaddress=someone%40elsewhere.test");
        otherOnOurHost.Headers.Host = "autoconfig.example.test";
        using var refused = await _http.SendAsync(otherOnOurHost);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    private async Task<XElement> PostAutodiscoverAsync(string email, string schema = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a")
    {
        var request = $"""
            <?xml version="1.0" encoding="utf-8"?>
            <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
              <Request>
                <EMailAddress>{email}</EMailAddress>
                <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>
              </Request>
            </Autodiscover>
            """;
        using var response = await _http.PostAsync("/Autodiscover/Autodiscover.xml", new StringContent(request, Encoding.UTF8, "text/xml"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/xml"));
        return XDocument.Parse(await response.Content.ReadAsStringAsync()).Root!;
    }

    [Test]
    public async Task Outlook_autodiscover_answers_imap_and_smtp_settings_in_the_outlook_response_schema()
    {
        XNamespace outer = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
        XNamespace ns = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
        var root = await PostAutodiscoverAsync("Alice@Example.test");

        // Required by the schema: Autodiscover/Response/Account with AccountType, Action and, for "settings",
        // Protocol elements each naming Type, Server and Port.
        Assert.That(root.Name, Is.EqualTo(outer + "Autodiscover"));
        var account = root.Element(ns + "Response")!.Element(ns + "Account")!;
        Assert.Multiple(() =>
        {
            Assert.That(account.Element(ns + "AccountType")?.Value, Is.EqualTo("email"));
            Assert.That(account.Element(ns + "Action")?.Value, Is.EqualTo("settings"));
        });
        var protocols = account.Elements(ns + "Protocol").ToDictionary(p => p.Element(ns + "Type")!.Value);
        Assert.That(protocols.Keys, Is.EquivalentTo(new[] { "IMAP", "SMTP" }));
        foreach (var (type, port) in new[] { ("IMAP", _server.ListenerPorts.Imaps), ("SMTP", _server.ListenerPorts.Submissions) })
        {
            var p = protocols[type];
            Assert.Multiple(() =>
            {
                Assert.That(p.Element(ns + "Server")?.Value, Is.EqualTo("mx.example.test"));
                Assert.That(p.Element(ns + "Port")?.Value, Is.EqualTo(port.ToString()));
                Assert.That(p.Element(ns + "SSL")?.Value, Is.EqualTo("on"));
                Assert.That(p.Element(ns + "AuthRequired")?.Value, Is.EqualTo("on"));
                Assert.That(p.Element(ns + "LoginName")?.Value, Is.EqualTo("alice@example.test"));
            });
        }

        var unknown = await PostAutodiscoverAsync("someone@elsewhere.test");
        Assert.That(unknown.Descendants(outer + "ErrorCode").Single().Value, Is.EqualTo("500"));
        var mobileSync = await PostAutodiscoverAsync("alice@example.test", "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006");
        Assert.That(mobileSync.Descendants(outer + "ErrorCode").Single().Value, Is.EqualTo("601"));
    }

    [Test]
    public async Task Outlook_json_autodiscover_points_at_the_pox_endpoint_and_refuses_other_protocols()
    {
        using var ok = await _http.GetAsync("/autodiscover/autodiscover.json?Email=alice%40example.test&Protocol=AutodiscoverV1&RedirectCount=1");
        Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var json = JsonNode.Parse(await ok.Content.ReadAsStringAsync())!;
        Assert.That(json["Protocol"]!.GetValue<string>(), Is.EqualTo("AutodiscoverV1"));
        Assert.That(json["Url"]!.GetValue<string>(), Is.EqualTo($"https://mx.example.test:{_server.ListenerPorts.Https}/autodiscover/autodiscover.xml"));

        using var v1 = await _http.GetAsync("/autodiscover/autodiscover.json/v1.0/alice@example.test?Protocol=AutodiscoverV1");
        Assert.That(v1.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        using var ews = await _http.GetAsync("/autodiscover/autodiscover.json?Email=alice%40example.test&Protocol=Ews");
        Assert.That(ews.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(JsonNode.Parse(await ews.Content.ReadAsStringAsync())!["ErrorCode"]!.GetValue<string>(), Is.EqualTo("InvalidProtocol"));
    }

    [Test]
    public async Task The_apple_profile_needs_the_users_password_and_then_configures_imaps_and_submissions()
    {
        using var anonymous = await _http.GetAsync("/mail/profile.mobileconfig");
        Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(anonymous.Headers.WwwAuthenticate.Single().Scheme, Is.EqualTo("Basic"));

        using var wrong = await GetProfileAsync("alice@example.test", "not the password");
        Assert.That(wrong.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));

        // Bob's password is right, but an access control rule denies him IMAP: no profile either.
        using var denied = await GetProfileAsync("bob@example.test", Password);
        Assert.That(denied.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));

        using var right = await GetProfileAsync("alice@example.test", Password);
        Assert.That(right.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(right.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/x-apple-aspen-config"));
        var text = await right.Content.ReadAsStringAsync();
        Assert.That(text, Does.Not.Contain(Password), "the device asks for the password; the profile never carries it");
        var plist = XDocument.Parse(text);
        var mail = plist.Root!.Element("dict")!.Element("array")!.Element("dict")!;
        var values = mail.Elements("key").ToDictionary(k => k.Value, k => ((XElement)k.NextNode!));
        Assert.Multiple(() =>
        {
            Assert.That(values["PayloadType"].Value, Is.EqualTo("com.apple.mail.managed"));
            Assert.That(values["EmailAddress"].Value, Is.EqualTo("alice@example.test"));
            Assert.That(values["IncomingMailServerHostName"].Value, Is.EqualTo("mx.example.test"));
            Assert.That(values["IncomingMailServerPortNumber"].Value, Is.EqualTo(_server.ListenerPorts.Imaps.ToString()));
            Assert.That(values["IncomingMailServerUseSSL"].Name.LocalName, Is.EqualTo("true"));
            Assert.That(values["OutgoingMailServerPortNumber"].Value, Is.EqualTo(_server.ListenerPorts.Submissions.ToString()));
        });
    }

    private Task<HttpResponseMessage> GetProfileAsync(string user, string password)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/mail/profile.mobileconfig");
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return _http.SendAsync(request);
    }

    [Test]
    public async Task The_mta_sts_policy_is_exactly_rfc_8461_text_for_the_mta_sts_host_of_a_served_domain()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/.well-known/mta-sts.txt");
        request.Headers.Host = "mta-sts.example.test";
        using var response = await _http.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/plain"));
        // RFC 8461 §3.2: "version: STSv1" first, the mode, one mx per allowed host, max_age; CRLF line ends.
        Assert.That(await response.Content.ReadAsStringAsync(),
            Is.EqualTo("version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 86400\r\n"));

        using var otherHost = new HttpRequestMessage(HttpMethod.Get, "/.well-known/mta-sts.txt");
        otherHost.Headers.Host = "mta-sts.elsewhere.test";
        using var notOurs = await _http.SendAsync(otherHost);
        Assert.That(notOurs.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task The_logged_fingerprint_is_the_certificate_every_listener_presents()
    {
        using var pem = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_server.DataDirectory, "tls", "cert.pem")));
        Assert.That(Fingerprint(pem), Is.EqualTo(_fingerprint), "the generated certificate in <data>/tls");
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.That(await MailServer.Server.Program.RunAsync(["tls", "fingerprint", "--config", _server.ConfigPath], output, error, new StringReader("")),
            Is.Zero, error.ToString());
        Assert.That(output.ToString(), Does.Contain($"SHA-256:     {_fingerprint}").And.Contain("(self-signed)"));
        foreach (var port in new[] { _server.ListenerPorts.Imaps, _server.ListenerPorts.Submissions, _server.ListenerPorts.Https })
        {
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            string? presented = null;
            await using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
            {
                presented = certificate is null ? null : Fingerprint(certificate);
                return true;
            });
            await tls.AuthenticateAsClientAsync("mx.example.test");
            Assert.That(presented, Is.EqualTo(_fingerprint), $"port {port}");
        }
    }

    [Test]
    public async Task A_first_start_warns_about_a_server_name_that_is_not_fully_qualified_and_leaves_the_config_file_as_it_was()
    {
        Assert.That(_server.Output, Does.Not.Contain("is not a fully qualified domain name"));
        await using var bare = ServerProcess.Create();
        File.WriteAllText(bare.ConfigPath, File.ReadAllText(bare.ConfigPath).Replace("\"mx.example.test\"", "\"vm\""));
        var before = File.ReadAllBytes(bare.ConfigPath);
        await bare.StartAsync();
        Assert.That(await bare.WaitForOutputAsync("ServerName 'vm' is not a fully qualified domain name", TimeSpan.FromSeconds(10)), bare.Output);

        // First start: the generated password works, and the administrator's file is byte for byte as it was.
        var generated = Regex.Match(bare.Output, "Generated password for alice@example.test: (\\S+)").Groups[1].Value;
        Assert.That(generated, Is.Not.Empty, bare.Output);
        Assert.That(File.ReadAllBytes(bare.ConfigPath), Is.EqualTo(before));
        Assert.That(File.Exists(Path.Combine(bare.DataDirectory, "passwords.json")));
        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", bare.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync("alice@example.test", generated);
        Assert.That(imap.IsAuthenticated);
    }
}
