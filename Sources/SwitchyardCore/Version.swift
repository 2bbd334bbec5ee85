/// The release this build is.
package enum SwitchyardVersion {
    package static let current = "0.1.0"
}
