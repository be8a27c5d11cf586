using MailServer.Protocols.Authentication;
using MailServer.Protocols.Smtp;
using MailServer.Rules.Directory;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MailServer.Rules.Sending;

namespace MailServer.Server.Hosting;

/// <summary>
/// Runs the SMTP listeners (MX, submission and submissions with AUTH) for the host's lifetime. Stopping tells open
/// sessions <c>421 4.3.2</c> after any delivery already under way has been answered.
/// </summary>
internal sealed class SmtpListenerService(
    SmtpListenerOptions options,
    IDirectorySource directory,
    IMessageDelivery delivery,
    ICredentialValidator credentials,
    ILogger<SmtpListener> logger,
    MailServer.Protocols.Admission.BytesInFlight bytesInFlight,
    ISubmissionObserver? submissions = null) : IHostedService, IAsyncDisposable
{
    private readonly SmtpListener _listener = new(options, directory, delivery, logger, credentials: credentials, submissions: submissions,
        bytesInFlight: bytesInFlight);

    public Task StartAsync(CancellationToken cancellationToken) => _listener.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => _listener.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _listener.DisposeAsync();
}
