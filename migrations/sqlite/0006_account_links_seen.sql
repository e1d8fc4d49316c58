-- What a complete ThirdPartyAccountLink read saw is no longer written to the
-- database: the read hands the store the Ids it saw, and the store walks its
-- rows beside them (store.Store.DropAccountLinksExcept). Writing a quarter of
-- a million seen rows each run, and deleting by NOT IN over them, was most
-- of a million-user scheduled run's store time for these rows.
DROP TABLE account_links_seen;
