package onboard

import (
	"fmt"
	"strings"
)

// exchangeScopeScript is the Exchange Online PowerShell that limits the
// app's mailbox access to one group's members with Exchange RBAC for
// Applications (https://learn.microsoft.com/exchange/permissions-exo/application-rbac).
// Graph cannot make Exchange management scopes or role assignments, so
// onboarding prints it for an Exchange administrator to run:
// New-ServicePrincipal points Exchange at the app's service principal,
// New-ManagementScope selects the group's direct members (MemberOfGroup
// does not expand nested groups), and New-ManagementRoleAssignment grants
// "Application Contacts.ReadWrite" within that scope.
func exchangeScopeScript(name, appID, spID, groupID string) string {
	scope := "galmirror " + name
	var b strings.Builder
	fmt.Fprintf(&b, "\nMailbox access is scoped to the members of group %s with Exchange RBAC for Applications.\n", groupID)
	b.WriteString("Contacts.ReadWrite was not granted in Entra ID. An Exchange administrator runs, in Exchange Online PowerShell:\n\n")
	fmt.Fprintf(&b, "  Connect-ExchangeOnline\n")
	fmt.Fprintf(&b, "  New-ServicePrincipal -AppId %s -ObjectId %s -DisplayName %q\n", appID, spID, scope)
	fmt.Fprintf(&b, "  $group = Get-Recipient -Filter \"ExternalDirectoryObjectId -eq '%s'\"\n", groupID)
	fmt.Fprintf(&b, "  New-ManagementScope -Name %q -RecipientRestrictionFilter \"MemberOfGroup -eq '$($group.DistinguishedName)'\"\n", scope)
	fmt.Fprintf(&b, "  New-ManagementRoleAssignment -App %s -Role \"Application Contacts.ReadWrite\" -CustomResourceScope %q\n\n", appID, scope)
	b.WriteString("Exchange applies it within about an hour; until then `galmirror check` lists the group's mailboxes as outside the app's access.\n")
	return b.String()
}
