using MailServer.Protocols.Imap.Commands;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap;

/// <summary>
/// Every command the server runs: which states it is valid in (RFC 9051 §6) and its handler. A command missing
/// here is answered <c>BAD Command not supported</c>. <see cref="Entry.AllowsExpunge"/> is false for FETCH, STORE
/// SEARCH, SORT and THREAD by sequence number: untagged EXPUNGE must not be sent while they run (RFC 9051 §7.5.1).
/// </summary>
internal static class ImapCommandTable
{
    internal delegate Task<ImapCompletion> Handler(ImapCommand command, ImapSession session, CancellationToken cancellationToken);

    internal sealed record Entry(string Name, ImapStates States, Handler Run, Func<ImapCommand, bool> AllowsExpunge);

    private static readonly Dictionary<Type, Entry> Entries = new()
    {
        // any state (RFC 9051 §6.1)
        [typeof(CapabilityCommand)] = On<CapabilityCommand>("CAPABILITY", ImapStates.Any, CapabilityHandler.RunAsync),
        [typeof(NoopCommand)] = On<NoopCommand>("NOOP", ImapStates.Any, NoopHandler.RunAsync),
        [typeof(LogoutCommand)] = On<LogoutCommand>("LOGOUT", ImapStates.Any, LogoutHandler.RunAsync),
        [typeof(IdCommand)] = On<IdCommand>("ID", ImapStates.Any, IdHandler.RunAsync),
        // not authenticated (§6.2)
        [typeof(StartTlsCommand)] = On<StartTlsCommand>("STARTTLS", ImapStates.NotAuthenticated, StartTlsHandler.RunAsync),
        [typeof(LoginCommand)] = On<LoginCommand>("LOGIN", ImapStates.NotAuthenticated, LoginHandler.RunAsync),
        [typeof(AuthenticateCommand)] = On<AuthenticateCommand>("AUTHENTICATE", ImapStates.NotAuthenticated, AuthenticateHandler.RunAsync),
        // authenticated (§6.3); also valid when selected
        [typeof(EnableCommand)] = On<EnableCommand>("ENABLE", ImapStates.Authenticated, EnableHandler.RunAsync),
        [typeof(SelectCommand)] = On<SelectCommand>("SELECT", ImapStates.LoggedIn, SelectHandler.RunAsync),
        [typeof(CreateCommand)] = On<CreateCommand>("CREATE", ImapStates.LoggedIn, CreateHandler.RunAsync),
        [typeof(DeleteCommand)] = On<DeleteCommand>("DELETE", ImapStates.LoggedIn, DeleteHandler.RunAsync),
        [typeof(RenameCommand)] = On<RenameCommand>("RENAME", ImapStates.LoggedIn, RenameHandler.RunAsync),
        [typeof(SubscribeCommand)] = On<SubscribeCommand>("SUBSCRIBE", ImapStates.LoggedIn, SubscribeHandler.RunAsync),
        [typeof(UnsubscribeCommand)] = On<UnsubscribeCommand>("UNSUBSCRIBE", ImapStates.LoggedIn, SubscribeHandler.RunUnsubscribeAsync),
        [typeof(ListCommand)] = On<ListCommand>("LIST", ImapStates.LoggedIn, ListHandler.RunAsync),
        [typeof(LsubCommand)] = On<LsubCommand>("LSUB", ImapStates.LoggedIn, ListHandler.RunLsubAsync),
        [typeof(NamespaceCommand)] = On<NamespaceCommand>("NAMESPACE", ImapStates.LoggedIn, NamespaceHandler.RunAsync),
        [typeof(StatusCommand)] = On<StatusCommand>("STATUS", ImapStates.LoggedIn, StatusHandler.RunAsync),
        [typeof(AppendCommand)] = On<AppendCommand>("APPEND", ImapStates.LoggedIn, AppendHandler.RunAsync),
        [typeof(IdleCommand)] = On<IdleCommand>("IDLE", ImapStates.LoggedIn, IdleHandler.RunAsync),
        [typeof(NotifyCommand)] = On<NotifyCommand>("NOTIFY", ImapStates.LoggedIn, NotifyHandler.RunAsync), // RFC 5465
        [typeof(CompressCommand)] = On<CompressCommand>("COMPRESS", ImapStates.LoggedIn, CompressHandler.RunAsync),
        [typeof(GetQuotaRootCommand)] = On<GetQuotaRootCommand>("GETQUOTAROOT", ImapStates.LoggedIn, QuotaHandler.RunGetQuotaRootAsync),
        [typeof(GetQuotaCommand)] = On<GetQuotaCommand>("GETQUOTA", ImapStates.LoggedIn, QuotaHandler.RunGetQuotaAsync),
        [typeof(SetQuotaCommand)] = On<SetQuotaCommand>("SETQUOTA", ImapStates.LoggedIn, QuotaHandler.RunSetQuotaAsync),
        // ACL (RFC 4314 §3): a read-only view of the configuration's mailbox permissions
        [typeof(MyRightsCommand)] = On<MyRightsCommand>("MYRIGHTS", ImapStates.LoggedIn, AclHandler.RunMyRightsAsync),
        [typeof(GetAclCommand)] = On<GetAclCommand>("GETACL", ImapStates.LoggedIn, AclHandler.RunGetAclAsync),
        [typeof(ListRightsCommand)] = On<ListRightsCommand>("LISTRIGHTS", ImapStates.LoggedIn, AclHandler.RunListRightsAsync),
        [typeof(GetMetadataCommand)] = On<GetMetadataCommand>("GETMETADATA", ImapStates.LoggedIn, GetMetadataHandler.RunAsync), // RFC 5464
        [typeof(SetMetadataCommand)] = On<SetMetadataCommand>("SETMETADATA", ImapStates.LoggedIn, SetMetadataHandler.RunAsync),
        [typeof(SetAclCommand)] = On<SetAclCommand>("SETACL", ImapStates.LoggedIn, AclHandler.RunSetAclAsync),
        [typeof(DeleteAclCommand)] = On<DeleteAclCommand>("DELETEACL", ImapStates.LoggedIn, AclHandler.RunDeleteAclAsync),
        // selected (§6.4)
        [typeof(CheckCommand)] = On<CheckCommand>("CHECK", ImapStates.Selected, NoopHandler.RunCheckAsync),
        [typeof(CloseCommand)] = On<CloseCommand>("CLOSE", ImapStates.Selected, CloseHandler.RunAsync),
        [typeof(UnselectCommand)] = On<UnselectCommand>("UNSELECT", ImapStates.Selected, UnselectHandler.RunAsync),
        [typeof(ExpungeCommand)] = On<ExpungeCommand>("EXPUNGE", ImapStates.Selected, ExpungeHandler.RunAsync),
        [typeof(SearchCommand)] = On<SearchCommand>("SEARCH", ImapStates.Selected, SearchHandler.RunAsync, c => c.Uid),
        [typeof(FetchCommand)] = On<FetchCommand>("FETCH", ImapStates.Selected, FetchHandler.RunAsync, c => c.Uid),
        [typeof(StoreCommand)] = On<StoreCommand>("STORE", ImapStates.Selected, StoreHandler.RunAsync, c => c.Uid),
        [typeof(SortCommand)] = On<SortCommand>("SORT", ImapStates.Selected, SortHandler.RunAsync, c => c.Uid),
        [typeof(ThreadCommand)] = On<ThreadCommand>("THREAD", ImapStates.Selected, ThreadHandler.RunAsync, c => c.Uid),
        [typeof(CopyCommand)] = On<CopyCommand>("COPY", ImapStates.Selected, CopyHandler.RunAsync),
        [typeof(MoveCommand)] = On<MoveCommand>("MOVE", ImapStates.Selected, MoveHandler.RunAsync),
        [typeof(ReplaceCommand)] = On<ReplaceCommand>("REPLACE", ImapStates.Selected, ReplaceHandler.RunAsync), // RFC 8508
        [typeof(CancelUpdateCommand)] = On<CancelUpdateCommand>("CANCELUPDATE", ImapStates.Selected, CancelUpdateHandler.RunAsync), // RFC 5267
    };

    /// <summary>The entry for <paramref name="command"/>, or null when the server does not run it.</summary>
    public static Entry? Find(ImapCommand command) => Entries.GetValueOrDefault(command.GetType());

    private static Entry On<T>(string name, ImapStates states, Func<T, ImapSession, CancellationToken, Task<ImapCompletion>> run,
        Func<T, bool>? allowsExpunge = null) where T : ImapCommand =>
        new(name, states, (c, s, ct) => run((T)c, s, ct), c => allowsExpunge?.Invoke((T)c) ?? true);
}
