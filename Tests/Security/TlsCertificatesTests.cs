using NUnit.Framework;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MailServer.Server.Configuration;
using MailServer.Server.Security;
using MailServer.Tests.Configuration;

namespace MailServer.Tests.Security;

[TestFixture]
public sealed class TlsCertificatesTests
{
    private static readonly TlsConfig NotConfigured = new(null, null, false);

    [Test]
    public void A_generated_certificate_is_stored_once_and_reused()
    {
        using var temp = new TempFolder();
        using var first = TlsCertificates.LoadOrCreate(NotConfigured, temp.Path, "mail.example.test");
        using var second = TlsCertificates.LoadOrCreate(NotConfigured, temp.Path, "mail.example.test");
        var keyPath = Path.Combine(temp.Path, "tls", "key.pem");
        var mode = OperatingSystem.IsWindows() ? (UnixFileMode?)null : File.GetUnixFileMode(keyPath);
        var san = first.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Multiple(() =>
        {
            Assert.That(second.Thumbprint, Is.EqualTo(first.Thumbprint));
            Assert.That(first.HasPrivateKey, Is.True);
            Assert.That(mode, Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(san.EnumerateDnsNames(), Is.EquivalentTo(new[] { "mail.example.test", "localhost" }));
            Assert.That(san.EnumerateIPAddresses(), Is.EquivalentTo(new[] { IPAddress.Loopback, IPAddress.IPv6Loopback }));
            Assert.That(first.NotAfter - first.NotBefore, Is.GreaterThan(TimeSpan.FromDays(364)));
        });
    }

    [Test]
    public void Configured_pem_files_are_loaded()
    {
        using var temp = new TempFolder();
        using var generated = TlsCertificates.LoadOrCreate(NotConfigured, temp.Path, "mail.example.test");
        var tls = new TlsConfig(Path.Combine(temp.Path, "tls", "cert.pem"), Path.Combine(temp.Path, "tls", "key.pem"), false);
        using var other = new TempFolder();
        using var loaded = TlsCertificates.LoadOrCreate(tls, other.Path, "ignored");
        Assert.That(loaded.Thumbprint, Is.EqualTo(generated.Thumbprint));
        Assert.That(Directory.Exists(Path.Combine(other.Path, "tls")), Is.False, "nothing is generated when a certificate is configured");
    }

    [Test]
    public async Task The_certificate_completes_a_tls_handshake_on_loopback()
    {
        using var temp = new TempFolder();
        using var certificate = TlsCertificates.LoadOrCreate(NotConfigured, temp.Path, "mail.example.test");
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var serverSide = Task.Run(async () =>
            {
                using var socket = await listener.AcceptTcpClientAsync();
                await using var ssl = new SslStream(socket.GetStream());
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = certificate,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                });
                await ssl.WriteAsync("ok"u8.ToArray());
            });
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            X509Certificate? seen = null;
            await using var clientSsl = new SslStream(client.GetStream(), false, (_, cert, _, _) =>
            {
                seen = cert;
                return true; // self-signed: we compare the presented certificate below instead
            });
            await clientSsl.AuthenticateAsClientAsync("localhost");
            var buffer = new byte[2];
            await clientSsl.ReadExactlyAsync(buffer);
            await serverSide;
            Assert.Multiple(() =>
            {
                Assert.That(buffer, Is.EqualTo("ok"u8.ToArray()));
                Assert.That(seen?.GetCertHashString(), Is.EqualTo(certificate.Thumbprint));
                Assert.That(clientSsl.SslProtocol, Is.AnyOf(SslProtocols.Tls12, SslProtocols.Tls13));
            });
        }
        finally
        {
            listener.Stop();
        }
    }
}
