/// A command that cannot do what was asked: the message goes to standard error as it is, and the
/// process exits with status 1.
package struct CommandFailure: Error, CustomStringConvertible {
    package var description: String

    package init(_ description: String) {
        self.description = description
    }
}
