//! The lab and the scale model.
