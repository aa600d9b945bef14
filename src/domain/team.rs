//! Who in an organization may do what: one role per member, and the one
//! table of what each role allows. Every check of a person against an
//! organization's events, orders, door and settings asks [`Role::allows`].

use serde::{Deserialize, Serialize};

/// A member's role in an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything: events, orders, refunds, members, billing details.
    Owner,
    /// Events, codes, orders, refunds, messages; not members or billing.
    Manager,
    /// Orders, marking them paid, attendees, the door; no refunds, no event changes.
    BoxOffice,
    /// The door page and check-ins, nothing else.
    Door,
}

/// What a person does to an organization or one of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See the organization's events as a member does (drafts too).
    SeeEvent,
    /// Create an event in the organization.
    CreateEvent,
    /// Change an event: details, ticket types, codes, quotas, questions,
    /// image, payment settings, publish, cancel.
    EditEvent,
    /// Read orders, attendees, stats and exports; an order's papers.
    ViewOrders,
    /// Record an offline payment.
    MarkPaid,
    /// Cancel a booking (refunding what was paid), pay a refund back.
    Refund,
    /// Scan tickets at the door, and undo a scan.
    CheckIn,
    /// Write to an event's attendees.
    Message,
    /// Invite, change and remove members.
    ManageMembers,
    /// The organization's billing details and invoice series.
    Billing,
    /// Read the audit log.
    ViewAudit,
    /// Register and change webhook endpoints.
    Webhooks,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Manager, Role::BoxOffice, Role::Door];

    /// Whether this role allows `action`.
    pub fn allows(self, action: Action) -> bool {
        use Action as A;
        match self {
            Role::Owner => true,
            Role::Manager => !matches!(action, A::ManageMembers | A::Billing | A::Webhooks),
            Role::BoxOffice => matches!(action, A::SeeEvent | A::ViewOrders | A::MarkPaid | A::CheckIn),
            Role::Door => matches!(action, A::SeeEvent | A::CheckIn),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::BoxOffice => "box_office",
            Role::Door => "door",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// How the role is named on a page.
    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Manager => "Manager",
            Role::BoxOffice => "Box office",
            Role::Door => "Door",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_allows_what_the_table_says() {
        use Action as A;
        let all = [
            A::SeeEvent,
            A::CreateEvent,
            A::EditEvent,
            A::ViewOrders,
            A::MarkPaid,
            A::Refund,
            A::CheckIn,
            A::Message,
            A::ManageMembers,
            A::Billing,
            A::ViewAudit,
            A::Webhooks,
        ];
        let allowed = |role: Role| all.iter().copied().filter(|a| role.allows(*a)).collect::<Vec<_>>();
        assert_eq!(allowed(Role::Owner), all.to_vec());
        assert_eq!(
            allowed(Role::Manager),
            vec![
                A::SeeEvent,
                A::CreateEvent,
                A::EditEvent,
                A::ViewOrders,
                A::MarkPaid,
                A::Refund,
                A::CheckIn,
                A::Message,
                A::ViewAudit
            ]
        );
        assert_eq!(allowed(Role::BoxOffice), vec![A::SeeEvent, A::ViewOrders, A::MarkPaid, A::CheckIn]);
        assert_eq!(allowed(Role::Door), vec![A::SeeEvent, A::CheckIn]);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("admin"), None);
    }
}
