//! Small drawing helpers shared by the panes: horizontal bars and bucketed sparklines, both as
//! styled spans so they compose into table-like rows, and the frame popups are drawn in.

pub mod bar;
pub mod popup;
pub mod sparkline;
