using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MailServer.Tests.Support;

/// <summary>
/// A throwaway certificate authority for tests that need certificates a real client validates (MTA-STS, DANE):
/// a root, leaf certificates for given names, and a CA bundle (the system's roots plus this one) to hand the server
/// under test as <c>SSL_CERT_FILE</c>.
/// </summary>
public sealed class TestCa : IDisposable
{
    private readonly RSA _key = RSA.Create(2048);

    public TestCa(string name = "Mailserver Test Root")
    {
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        Root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    /// <summary>The root certificate.</summary>
    public X509Certificate2 Root { get; }

    /// <summary>A server certificate for <paramref name="names"/> (the first is the subject), with its private key.</summary>
    public X509Certificate2 Issue(params string[] names)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={names[0]}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names)
            san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7f;
        using var issued = request.Create(Root, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>Writes the system's roots plus this root into <paramref name="folder"/>; the path is for <c>SSL_CERT_FILE</c>.</summary>
    public string WriteTrustBundle(string folder)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, "trust.pem");
        var system = File.Exists("/etc/ssl/certs/ca-certificates.crt") ? File.ReadAllText("/etc/ssl/certs/ca-certificates.crt") : "";
        File.WriteAllText(path, system + "\n" + Root.ExportCertificatePem() + "\n");
        return path;
    }

    /// <summary>The PKCS#8 PEM of a certificate's RSA or ECDSA private key.</summary>
    public static string PrivateKeyPem(X509Certificate2 certificate) =>
        (certificate.GetRSAPrivateKey() as AsymmetricAlgorithm ?? certificate.GetECDsaPrivateKey()
            ?? throw new ArgumentException("no private key", nameof(certificate))).ExportPkcs8PrivateKeyPem();

    public void Dispose()
    {
        Root.Dispose();
        _key.Dispose();
    }
}

/// <summary>
/// A minimal HTTPS server on loopback answering <c>GET /.well-known/mta-sts.txt</c> with the policy registered for
/// the request's Host (404 otherwise), like a domain's <c>mta-sts</c> web server; counts the fetches. It also takes
/// POSTs (a TLS-RPT collector, RFC 8460 §5.4): each is kept (<see cref="Posts"/>) and answered 201 Created.
/// </summary>
public sealed class PolicyHttpsServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly X509Certificate2 _certificate;
    private readonly Dictionary<string, string> _policies = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private int _fetches;

    public PolicyHttpsServer(X509Certificate2 certificate)
    {
        _certificate = certificate;
        _listener.Start();
        _loop = Task.Run(AcceptAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>A POST as it arrived: the request line's path, the Content-Type and the body's bytes.</summary>
    public sealed record Post(string Host, string Path, string? ContentType, byte[] Body);

    private readonly List<Post> _posts = [];

    /// <summary>The POSTs received so far, in order.</summary>
    public IReadOnlyList<Post> Posts { get { lock (_posts) return _posts.ToList(); } }

    /// <summary>Policy fetches answered so far.</summary>
    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>Serves <paramref name="policy"/> (lines joined with CRLF) for <c>mta-sts.DOMAIN</c>.</summary>
    public void Serve(string domain, params string[] policy)
    {
        lock (_policies)
            _policies["mta-sts." + domain] = string.Join("\r\n", policy) + "\r\n";
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await using var tls = new SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = _certificate,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                });
                var received = new MemoryStream();
                var buffer = new byte[4096];
                int headerEnd;
                while ((headerEnd = received.GetBuffer().AsSpan(0, (int)received.Length).IndexOf("\r\n\r\n"u8)) < 0)
                {
                    var n = await tls.ReadAsync(buffer);
                    if (n == 0)
                        return;
                    received.Write(buffer, 0, n);
                }
                var lines = Encoding.ASCII.GetString(received.GetBuffer(), 0, headerEnd).Split("\r\n");
                string? Field(string name) => lines.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase))?[(name.Length + 1)..].Trim();
                var host = Field("Host")?.Split(':')[0] ?? "";
                if (lines[0].StartsWith("POST ", StringComparison.Ordinal))
                {
                    var length = int.Parse(Field("Content-Length") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
                    var posted = new MemoryStream();
                    posted.Write(received.GetBuffer(), headerEnd + 4, (int)received.Length - headerEnd - 4);
                    while (posted.Length < length)
                    {
                        var n = await tls.ReadAsync(buffer);
                        if (n == 0)
                            return;
                        posted.Write(buffer, 0, n);
                    }
                    lock (_posts)
                        _posts.Add(new Post(host, lines[0].Split(' ')[1], Field("Content-Type"), posted.ToArray()));
                    await tls.WriteAsync("HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray());
                    return;
                }
                string? policy;
                lock (_policies)
                    policy = lines[0].StartsWith("GET /.well-known/mta-sts.txt ", StringComparison.Ordinal) ? _policies.GetValueOrDefault(host) : null;
                if (policy is not null)
                    Interlocked.Increment(ref _fetches);
                var body = Encoding.ASCII.GetBytes(policy ?? "not found\r\n");
                var head = $"HTTP/1.1 {(policy is null ? "404 Not Found" : "200 OK")}\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
                await tls.WriteAsync(Encoding.ASCII.GetBytes(head));
                await tls.WriteAsync(body);
            }
            catch (Exception e) when (e is IOException or AuthenticationException)
            {
                // a client that gave up
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
