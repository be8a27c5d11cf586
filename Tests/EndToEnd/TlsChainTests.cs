using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MailServer.Tests.Support;
using NUnit.Framework;

namespace MailServer.Tests.EndToEnd;

/// <summary>
/// A certificate configured as a full-chain PEM (leaf, then its intermediate, as Let's Encrypt's fullchain.pem) is
/// presented whole on every TLS port: a client that does not fetch missing intermediates can build the chain, and
/// repeated handshakes (one reused certificate context) keep doing so.
/// </summary>
[TestFixture, NonParallelizable]
public sealed class TlsChainTests
{
    [Test]
    public async Task Imaps_starttls_and_smtps_handshakes_send_the_intermediate_of_a_full_chain_file()
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = DateTimeOffset.UtcNow;
        using var root = Authority("CN=Test Root", rootKey).CreateSelfSigned(now.AddMinutes(-5), now.AddDays(3));
        using var intermediate = Authority("CN=Test Intermediate", intermediateKey)
            .Create(root, now.AddMinutes(-5), now.AddDays(2), [1, 2, 3, 4]);
        var leafRequest = new CertificateRequest("CN=localhost", leafKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        leafRequest.CertificateExtensions.Add(names.Build());
        using var leaf = leafRequest.Create(intermediate.CopyWithPrivateKey(intermediateKey), now.AddMinutes(-5), now.AddDays(1), [5, 6, 7, 8]);

        await using var server = ServerProcess.Create();
        var certs = Path.Combine(server.DataDirectory, "certs");
        Directory.CreateDirectory(certs);
        File.WriteAllText(Path.Combine(certs, "fullchain.pem"), leaf.ExportCertificatePem() + "\n" + intermediate.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(certs, "privkey.pem"), leafKey.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(server.ConfigPath, File.ReadAllText(server.ConfigPath).Replace(
            "\"DataDirectory\": \"data\",",
            "\"DataDirectory\": \"data\", \"Tls\": { \"CertificatePath\": \"certs/fullchain.pem\", \"KeyPath\": \"certs/privkey.pem\" },"));
        await server.StartAsync();

        var imaps = await PresentedAsync(server.ListenerPorts.Imaps, plainPrefix: null);
        var imapsAgain = await PresentedAsync(server.ListenerPorts.Imaps, plainPrefix: null);
        var starttls = await PresentedAsync(server.ListenerPorts.Imap, plainPrefix: "a STARTTLS\r\n");
        var smtps = await PresentedAsync(server.ListenerPorts.Submissions, plainPrefix: null);
        Assert.Multiple(() =>
        {
            foreach (var (port, presented) in new[] { ("IMAPS", imaps), ("IMAPS again", imapsAgain), ("IMAP STARTTLS", starttls), ("SMTPS", smtps) })
            {
                Assert.That(presented.Leaf, Is.EqualTo(leaf.Thumbprint), port);
                Assert.That(presented.Others, Does.Contain(intermediate.Thumbprint), port + ": the intermediate is sent");
                Assert.That(presented.Others, Does.Not.Contain(root.Thumbprint), port + ": the root is not in the file, so not sent");
            }
        });
    }

    private static CertificateRequest Authority(string name, ECDsa key)
    {
        var request = new CertificateRequest(name, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        return request;
    }

    /// <summary>Connects, optionally sends a plain-text STARTTLS first, and returns what the server's handshake
    /// carried: the leaf's thumbprint and those of the other certificates it sent.</summary>
    private static async Task<(string Leaf, List<string> Others)> PresentedAsync(int port, string? plainPrefix)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        if (plainPrefix is not null)
        {
            var reader = new StreamReader(stream, Encoding.ASCII, false, 1, leaveOpen: true);
            Assert.That(await reader.ReadLineAsync(), Does.StartWith("* OK"));
            await stream.WriteAsync(Encoding.ASCII.GetBytes(plainPrefix));
            Assert.That(await reader.ReadLineAsync(), Does.StartWith("a OK"));
        }
        string? leaf = null;
        var others = new List<string>();
        await using var ssl = new SslStream(stream, false, (_, certificate, chain, _) =>
        {
            leaf = certificate?.GetCertHashString();
            // The certificates the server sent besides the leaf are in the chain's extra store.
            others.AddRange(chain!.ChainPolicy.ExtraStore.Select(c => c.Thumbprint).Where(t => t != leaf));
            return true;
        });
        await ssl.AuthenticateAsClientAsync("localhost");
        return (leaf!, others);
    }
}
