package scenario

import "strings"

// name is a display form and the ASCII form used in UPNs and mail addresses.
type name struct{ display, ascii string }

func parseNames(list string) []name {
	fields := strings.Fields(list)
	out := make([]name, len(fields))
	for i, f := range fields {
		display, ascii, ok := strings.Cut(f, "|")
		if !ok {
			ascii = strings.ToLower(display)
		}
		out[i] = name{display: display, ascii: ascii}
	}
	return out
}

// Given names and surnames from many languages; "Display|ascii" where the
// UPN form differs from the lower-cased display form.
var givenNames = parseNames(`
Adele Alex Allan Amara Ana Anders Aiko Akira Alejandro Alice Amir Anya Arjun Astrid Aylin
Beatriz Ben Bianca Björn|bjorn Bogdan Brigitte Camille Carlos Chen Chiara Chloé|chloe Christian Chloe
Dalia Daniel Dara Debra Deniz Diego Dmitri Eero Elena Elif Emeka Emma Enzo Erik Esther Ethan Fatima
Felix Fernanda Finn Francesca François|francois Freya Gabriel Giulia Grady Hana Hannah Haruto Henrik
Hiroshi Ines Ingrid Irene Isaac Isabela Ivan Jakob James Jana Javier Jessica Jin Joanna Johanna
Jonas José|jose Julia Kai Kalani Karim Katarzyna Kenji Kiara Klaus Lars Laura Lea Lee Leila Lena
Leo Liam Lidia Lina Lorenzo Luca Lucía|lucia Lukas Lynne Maja Malik Manon Marco Maria Mariam Marta
Mateo Megan Mei Miguel Mila Miriam Mohammed Nadia Nestor Niamh Nico Nina Noah Nora Olga Oliver Omar
Oskar Pablo Patti Paula Pedro Pradeep Priya Rafael Rahul Raj Rania Rosa Ruth Saanvi Sakura Sami Sara
Sebastian Shira Sienna Sofia Søren|soren Stefan Sunita Tamar Tariq Thabo Theo Tomás|tomas Uma Valentina
Vera Victor Wei Wiktoria Xin Yara Yasmin Yuki Yusuf Zainab Zara Zoe Zoltán|zoltan
`)

var surnames = parseNames(`
Abbott Adeyemi Agarwal Ahmed Almeida Andersen Araújo|araujo Bauer Becker Bernard Bianchi Bjørnsen|bjornsen
Brown Bruno Carvalho Castillo Chatterjee Chen Cohen Costa Cruz Dahl Das Demir Dubois Dupont Eriksson
Esposito Evans Fernández|fernandez Ferrari Fischer Fontaine Fujita García|garcia Ghosh Girard Gomes
González|gonzalez Gupta Haddad Hansen Hartmann Hayes Hernández|hernandez Hoffmann Horvat Hughes Ibrahim
Ito Ivanova Jackson Jensen Johansson Johnson Jones Kaya Keller Khan Kim Klein Kowalski Kumar Larsen
Laurent Lee Lehmann Li Lindqvist Liu López|lopez Lund Martin Martínez|martinez Meyer Miller Moreau
Morales Moreno Müller|muller Murphy Nakamura Nguyen Nielsen Novak Nowak Okafor Olsen Ortiz Özdemir|ozdemir
Park Patel Pereira Petrov Popescu Quinn Ramírez|ramirez Rao Reddy Ricci Richter Rivera Rodríguez|rodriguez
Romano Rossi Sánchez|sanchez Santos Sato Schmidt Schneider Schulz Shah Silva Singh Smith Sokolov Suzuki
Svensson Takahashi Tanaka Taylor Thomas Torres Tran Varga Vance Vasquez Virtanen Wagner Walker Wang
Weber Williams Wilson Wójcik|wojcik Wright Wu Yamamoto Yang Yılmaz|yilmaz Young Zhang Zhou Zimmermann
`)

// guestDomains are the home domains of B2B guests.
var guestDomains = []string{"fabrikam.com", "northwindtraders.com", "adventure-works.com", "tailspintoys.com", "wingtiptoys.com", "gmail.com", "outlook.com"}

// leftoverDomain is the domain of users left over from another tenant.
const leftoverDomain = "litware.com"
