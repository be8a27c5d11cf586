using MailServer.Protocols.Authentication;
using MailServer.Protocols.Imap;
using MailServer.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hosting;

/// <summary>Runs the IMAP listeners (STARTTLS and implicit TLS) for the host's lifetime; stopping says
/// <c>* BYE Server shutting down</c> to every open session.</summary>
internal sealed class ImapListenerService(
    ImapListenerOptions options,
    IImapStore store,
    ICredentialValidator credentials,
    MailServer.Rules.Directory.IDirectorySource directory,
    ILogger<ImapListener> logger,
    IMailboxAccessObserver accessObserver,
    MailServer.Protocols.Admission.BytesInFlight bytesInFlight) : IHostedService, IAsyncDisposable
{
    private readonly ImapListener _listener = new(options, store, credentials, logger, directory: directory, accessObserver: accessObserver,
        bytesInFlight: bytesInFlight);

    public Task StartAsync(CancellationToken cancellationToken) => _listener.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => _listener.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _listener.DisposeAsync();
}
