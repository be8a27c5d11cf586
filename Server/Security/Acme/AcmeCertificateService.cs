using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MailServer.Protocols.Tls;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Security.Acme;

/// <summary>
/// Obtains and renews the server certificate from the ACME CA in <c>Tls.Acme</c> (RFC 8555) and swaps it into the
/// <see cref="ServerCertificateProvider"/>, so every listener presents it from its next handshake without a restart.
/// Renews two thirds into the certificate's lifetime; a failed attempt is retried after 1 minute, doubling up to
/// 4 hours (CAs limit failed validations per hour, so it never hammers). Does nothing without <c>Tls.Acme</c>.
/// </summary>
internal sealed class AcmeCertificateService(
    ConfigMonitor monitor,
    ServerCertificateProvider certificates,
    AcmeChallenges challenges,
    TimeProvider time,
    ILoggerFactory loggerFactory) : BackgroundService
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromHours(4);
    private static readonly TimeSpan LongestSleep = TimeSpan.FromDays(1); // re-checked daily (Task.Delay's range, clock changes)

    private readonly ILogger _logger = loggerFactory.CreateLogger("MailServer.Acme");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Tls is restart-only (like the listeners), so the section read at start holds for the process.
        var config = monitor.Config;
        if (config.Tls.Acme is not { } acme)
            return;
        var failures = 0;
        using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(15) })
        {
            Timeout = TimeSpan.FromSeconds(60),
        };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("mailserver-acme/1.0");
        while (!stoppingToken.IsCancellationRequested)
        {
            var now = time.GetUtcNow();
            var current = certificates.Certificate;
            var issued = AcmeStore.Covers(current, acme.Domains) && !TlsCertificates.IsSelfSigned(current);
            var due = issued ? AcmeStore.RenewalTime(current) : now;
            if (due > now)
            {
                AcmeLog.RenewalScheduled(_logger, current.NotAfter.ToUniversalTime(), due.UtcDateTime);
                await Sleep(Min(due - now, LongestSleep), stoppingToken);
                continue;
            }
            try
            {
                await ObtainAsync(http, config.DataDirectory, acme, stoppingToken);
                failures = 0;
            }
            catch (Exception e) when (e is AcmeException or HttpRequestException or IOException or CryptographicException
                                          or System.Text.Json.JsonException or InvalidOperationException
                                          || (e is TaskCanceledException && !stoppingToken.IsCancellationRequested))
            {
                failures++;
                var wait = Min(FirstRetry * Math.Pow(2, Math.Min(failures - 1, 16)), LongestRetry);
                AcmeLog.Failed(_logger, string.Join(", ", acme.Domains), e.Message, wait);
                await Sleep(wait, stoppingToken);
            }
        }
    }

    private async Task ObtainAsync(HttpClient http, string dataDirectory, AcmeConfig acme, CancellationToken cancellationToken)
    {
        AcmeLog.Requesting(_logger, string.Join(", ", acme.Domains), acme.DirectoryUrl.ToString());
        using var client = new AcmeClient(http, acme.DirectoryUrl, AcmeStore.LoadOrCreateAccountKey(dataDirectory),
            AcmeStore.LoadAccountUrl(dataDirectory, acme.DirectoryUrl), time);
        if (client.AccountUrl is null)
        {
            var account = await client.RegisterAsync(acme.Email, cancellationToken);
            AcmeStore.SaveAccountUrl(dataDirectory, acme.DirectoryUrl, account);
            AcmeLog.Registered(_logger, account);
        }
        // A new key with every certificate (RSA 2048, like the generated one: older mail clients negotiate only RSA).
        using var key = RSA.Create(2048);
        var chain = await client.OrderCertificateAsync(acme.Domains, key, challenges, cancellationToken);
        AcmeStore.SaveCertificate(dataDirectory, chain, key);
        var certificate = AcmeStore.LoadCertificate(dataDirectory, acme, time.GetUtcNow(), out var intermediates)
            ?? throw new AcmeException("The issued certificate does not cover the configured names or has already expired.");
        certificates.Swap(certificate, intermediates);
        AcmeLog.Issued(_logger, string.Join(", ", acme.Domains), certificate.Issuer, certificate.NotAfter.ToUniversalTime(),
            TlsCertificates.Sha256Fingerprint(certificate), AcmeStore.RenewalTime(certificate).UtcDateTime);
    }

    private Task Sleep(TimeSpan wait, CancellationToken cancellationToken) =>
        Task.Delay(wait, time, cancellationToken).ContinueWith(_ => { }, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
