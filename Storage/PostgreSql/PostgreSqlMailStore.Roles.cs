namespace MailServer.Storage.PostgreSql;

// The consumers' combined roles (Storage/StoreRoles.cs, IRetentionStore) this engine fills with the parts above, so
// the host registers one instance under each (Server/Hosting/StoreModule.cs).
public sealed partial class PostgreSqlMailStore : IImapStore, IRetentionStore;
