using System.Security.Cryptography;
using MailServer.Server.Configuration;
using MailServer.Server.Security;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver tls fingerprint</c>: prints the SHA-256 fingerprint of the certificate every listener presents, so
/// users can compare it with what their mail client shows before they accept a self-signed certificate.
/// </summary>
internal sealed class TlsFingerprintCommand : ICliCommand
{
    public IReadOnlyList<string> Name { get; } = ["tls", "fingerprint"];
    public string ArgumentSyntax => "";
    public int ArgumentCount => 0;
    public string Summary => "print the server certificate's SHA-256 fingerprint";
    public string Details =>
        "Reads the configured certificate (Tls.CertificatePath) or the self-signed one in <DataDirectory>/tls,\n" +
        "generating the latter if the server has not started yet, and prints its subject, expiry and SHA-256\n" +
        "fingerprint in the form mail clients and 'openssl x509 -fingerprint -sha256' show. The server logs the\n" +
        "same line at start.";

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        try
        {
            using var certificate = TlsCertificates.LoadOrCreate(config.Tls, config.DataDirectory, config.ServerName);
            await console.Out.WriteLineAsync($"subject:     {certificate.Subject}").ConfigureAwait(false);
            await console.Out.WriteLineAsync($"source:      {config.Tls.CertificatePath ?? (config.Tls.Acme is not null && !TlsCertificates.IsSelfSigned(certificate) ? Path.Combine(Security.Acme.AcmeStore.PathIn(config.DataDirectory), "cert.pem") : Path.Combine(config.DataDirectory, TlsCertificates.GeneratedFolder, "cert.pem"))}" +
                                             (TlsCertificates.IsSelfSigned(certificate) ? " (self-signed)" : "")).ConfigureAwait(false);
            await console.Out.WriteLineAsync($"valid until: {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC").ConfigureAwait(false);
            await console.Out.WriteLineAsync($"SHA-256:     {TlsCertificates.Sha256Fingerprint(certificate)}").ConfigureAwait(false);
            return ExitCodes.Ok;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            await console.Error.WriteLineAsync($"mailserver: cannot read the certificate: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }
}
